// SCIM benchmark: reads, creates and group-membership PATCHes on a 100,000-user directory, each
// timed against THE floor, a bare D1 point select through the same Worker
// (`GET /__dev/bench/floor?id=` → `SELECT * FROM users WHERE id = ?`), interleaved with it.
//
//   npm run bench -- scim            (or: node bench/scim.mjs)
//   env: BENCH_N (rounds per case, default 300), BENCH_WARMUP (default 30),
//        BENCH_CONCURRENCY (default 4; 0 skips the concurrent section),
//        BENCH_BREAKDOWN (default on; 0 skips the diagnostic variants), BENCH_KEEP_STATE=1 keeps the
//        temporary D1 files for inspection
//
// Targets (from the issue): reads (GET by id, filter eq, filter co, list page) ≤ 1.3× floor;
// PATCH of a 50,000-member group ≤ 1.2× the same PATCH of a 10-member group. Misses are reported,
// never fatal: benchmarks report, tests gate.

import { pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import {
  adminClient,
  benchUser,
  createConnection,
  interleave,
  logger,
  machine,
  ms,
  PATCH_OP,
  printTable,
  ratio,
  rng,
  roundStats,
  scimClient,
  startServer,
  stats,
  USER_SCHEMA,
  writeResults, round3 } from "./lib.mjs";
import { printRouteCosts, routeCosts, routeOf } from "./traces.mjs";

const USERS = 100_000;
const SEED_CHUNK = 20_000;
const SMALL_GROUP = 10;
const BIG_GROUP = 50_000;
/** Not a member of either group (they hold bench users 1…10 and 1…50,000). */
const OUTSIDER = 99_999;

const READ_TARGET = 1.3;
const PATCH_TARGET = 1.2;

/** Runs the SCIM bench; resolves its results object (also written to bench/.results/scim.json). */
export async function runScim({
  rounds = Number(process.env.BENCH_N ?? 300),
  warmup = Number(process.env.BENCH_WARMUP ?? 30),
  concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4),
  breakdown = process.env.BENCH_BREAKDOWN !== "0",
} = {}) {
  const log = logger("scim");
  const started = performance.now();
  const server = await startServer({ label: "bench-scim", log });
  try {
    const admin = adminClient(server);
    const conn = await createConnection(admin, { name: "bench-scim", type: "okta", userDeprovision: true });
    const scim = scimClient(conn);
    log(`connection ${conn.id}`);

    // ---- Seed: 100,000 users in chunks of 20,000 (recursive CTEs inside D1), then two groups.
    const seed = { users: USERS, chunks: [], groups: {} };
    let t0 = performance.now();
    for (let from = 1; from <= USERS; from += SEED_CHUNK) {
      const r = await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, users: { from, count: SEED_CHUNK } }, 200);
      seed.chunks.push(Math.round(r.ms));
    }
    seed.usersMs = Math.round(performance.now() - t0);
    log(`seeded ${USERS} users in ${seed.usersMs} ms (chunks of ${SEED_CHUNK}: ${seed.chunks.join(", ")} ms)`);
    const groupIds = {};
    for (const [key, size] of [["small", SMALL_GROUP], ["big", BIG_GROUP]]) {
      const r = await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, group: { display_name: `bench-${key}-${size}`, size } }, 200);
      groupIds[key] = r.json().result.group_id;
      seed.groups[key] = { size, ms: Math.round(r.ms), id: groupIds[key] };
      log(`seeded group of ${size} members in ${Math.round(r.ms)} ms`);
    }

    await preflight(scim, groupIds, log);

    // ---- Sequential, keep-alive, each case interleaved with its own floor samples.
    const pick = rng(0xbe4c);
    const ids = Array.from({ length: warmup + rounds }, () => pick(1, USERS));
    const deep = Array.from({ length: warmup + rounds }, () => pick(1, USERS - 99));
    const floorStep = { name: "floor", run: (i) => admin("GET", `/__dev/bench/floor?id=${benchUser(ids[i]).id}`, undefined, 200) };
    const q = (s) => encodeURIComponent(s);
    const runTag = Date.now().toString(36);
    const reads = [
      { key: "get_by_id", label: "GET /Users/:id", target: READ_TARGET, run: (i) => scim("GET", `/Users/${benchUser(ids[i]).id}`, undefined, 200) },
      { key: "filter_eq", label: 'GET /Users?filter=userName eq "…"', target: READ_TARGET, run: (i) => scim("GET", `/Users?filter=${q(`userName eq "${benchUser(ids[i]).userName}"`)}`, undefined, 200) },
      { key: "filter_co", label: 'GET /Users?filter=emails.value co "userNNNNNNN@"', target: READ_TARGET, run: (i) => scim("GET", `/Users?filter=${q(`emails.value co "${benchUser(ids[i]).userName.split("@")[0]}@"`)}`, undefined, 200) },
      { key: "list_first", label: "GET /Users?startIndex=1&count=100", target: READ_TARGET, run: () => scim("GET", "/Users?startIndex=1&count=100", undefined, 200) },
      { key: "list_random", label: "GET /Users?startIndex=<random>&count=100", target: READ_TARGET, run: (i) => scim("GET", `/Users?startIndex=${deep[i]}&count=100`, undefined, 200) },
      {
        key: "create_user",
        label: "POST /Users (unique userName)",
        run: (i) =>
          scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `new-${runTag}-${i}@bench.example`, name: { givenName: "New", familyName: `User ${i}` }, emails: [{ value: `new-${runTag}-${i}@bench.example`, type: "work", primary: true }], active: true }, 201),
      },
    ];

    const rows = [];
    const results = { machine: machine(), config: { users: USERS, rounds, warmup, concurrency, breakdown }, seed, cases: {} };
    const allFloor = [];
    for (const c of reads) {
      let bytes = 0;
      const run = async (i) => {
        const r = await c.run(i);
        bytes = r.text.length;
        return r;
      };
      const { samples, rounds: done, truncated } = await interleave([floorStep, { name: c.key, run }], { rounds, warmup });
      const f = stats(samples.floor);
      const s = stats(samples[c.key]);
      allFloor.push(...samples.floor);
      const r = s.median / f.median;
      const verdict = c.target === undefined ? "info" : r <= c.target ? "PASS" : "MISS";
      rows.push({ key: c.key, label: c.label, s, f, r, target: c.target === undefined ? "-" : `≤ ${c.target}× floor`, verdict, bytes });
      results.cases[c.key] = { label: c.label, stats: roundStats(s), floor: roundStats(f), ratio: round3(r), target: c.target ?? null, verdict, rounds: done, truncated, bytes };
      log(`${c.label}: median ${ms(s.median)} ms vs floor ${ms(f.median)} ms → ${ratio(r)} ${verdict}${truncated ? " (time-bounded: fewer rounds)" : ""}`);
    }

    // ---- Group membership: add one member and remove it again, 10-member vs 50,000-member group.
    const outsider = benchUser(OUTSIDER).id;
    const patchPair = (groupId, prefix) => async () => {
      const add = await scim("PATCH", `/Groups/${groupId}?excludedAttributes=members`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: outsider }] }] }, [200, 204]);
      const remove = await scim("PATCH", `/Groups/${groupId}?excludedAttributes=members`, { schemas: [PATCH_OP], Operations: [{ op: "remove", path: `members[value eq "${outsider}"]` }] }, [200, 204]);
      return { [`${prefix}_add`]: add.ms, [`${prefix}_remove`]: remove.ms };
    };
    const patch = await interleave(
      [floorStep, { name: "small", run: patchPair(groupIds.small, "patch_small") }, { name: "big", run: patchPair(groupIds.big, "patch_big") }],
      { rounds, warmup },
    );
    const pf = stats(patch.samples.floor);
    allFloor.push(...patch.samples.floor);
    for (const op of ["add", "remove"]) {
      const small = stats(patch.samples[`patch_small_${op}`]);
      const big = stats(patch.samples[`patch_big_${op}`]);
      const rBig = big.median / small.median;
      const verdict = rBig <= PATCH_TARGET ? "PASS" : "MISS";
      const smallLabel = `PATCH /Groups (${SMALL_GROUP} members) ${op} 1 member`;
      const bigLabel = `PATCH /Groups (${BIG_GROUP} members) ${op} 1 member`;
      rows.push({ key: `patch_small_${op}`, label: smallLabel, s: small, f: pf, r: small.median / pf.median, target: "-", verdict: "info" });
      rows.push({ key: `patch_big_${op}`, label: bigLabel, s: big, f: pf, r: big.median / pf.median, target: `≤ ${PATCH_TARGET}× ${SMALL_GROUP}-member`, verdict, extra: `${ratio(rBig)} of ${SMALL_GROUP}-member` });
      results.cases[`patch_small_${op}`] = { label: smallLabel, stats: roundStats(small), floor: roundStats(pf), ratio: round3(small.median / pf.median), target: null, verdict: "info", rounds: patch.rounds };
      results.cases[`patch_big_${op}`] = { label: bigLabel, stats: roundStats(big), floor: roundStats(pf), ratio: round3(big.median / pf.median), ratio_vs_small: round3(rBig), target: PATCH_TARGET, verdict, rounds: patch.rounds };
      log(`PATCH ${op}: ${BIG_GROUP}-member ${ms(big.median)} ms vs ${SMALL_GROUP}-member ${ms(small.median)} ms → ${ratio(rBig)} ${verdict}`);
    }

    // ---- Breakdown (diagnostic, no targets): variants that each drop one piece of work, so a MISS
    // above can be attributed (auth, the groups query, the count query, rendering, the LIKE scan).
    if (breakdown) {
      const bRounds = Math.min(rounds, 150);
      const needle = (i) => benchUser(ids[i]).userName.split("@")[0] + "@";
      const variants = [
        { key: "auth_only", label: "GET /ServiceProviderConfig (SCIM auth only, not logged)", run: () => scim("GET", "/ServiceProviderConfig", undefined, 200) },
        { key: "get_by_id_no_groups", label: "GET /Users/:id?excludedAttributes=groups", run: (i) => scim("GET", `/Users/${benchUser(ids[i]).id}?excludedAttributes=groups`, undefined, 200) },
        { key: "filter_eq_no_groups", label: 'GET /Users?filter=userName eq "…"&excludedAttributes=groups', run: (i) => scim("GET", `/Users?filter=${q(`userName eq "${benchUser(ids[i]).userName}"`)}&excludedAttributes=groups`, undefined, 200) },
        { key: "filter_sw", label: 'GET /Users?filter=emails.value sw "userNNNNNNN@" (indexed range)', run: (i) => scim("GET", `/Users?filter=${q(`emails.value sw "${needle(i)}"`)}`, undefined, 200) },
        { key: "count_only", label: "GET /Users?count=0 (count query only)", run: () => scim("GET", "/Users?count=0", undefined, 200) },
        { key: "list_count1", label: "GET /Users?startIndex=1&count=1 (1 row + count query)", run: () => scim("GET", "/Users?startIndex=1&count=1", undefined, 200) },
        { key: "list_no_groups", label: "GET /Users?startIndex=1&count=100&excludedAttributes=groups", run: () => scim("GET", "/Users?startIndex=1&count=100&excludedAttributes=groups", undefined, 200) },
        { key: "list_ids_only", label: "GET /Users?startIndex=1&count=100&attributes=id", run: () => scim("GET", "/Users?startIndex=1&count=100&attributes=id", undefined, 200) },
      ];
      results.breakdown = {};
      for (const v of variants) {
        let bytes = 0;
        const run = async (i) => {
          const r = await v.run(i);
          bytes = r.text.length;
          return r;
        };
        const { samples } = await interleave([floorStep, { name: v.key, run }], { rounds: bRounds, warmup: Math.min(warmup, 10) });
        const f = stats(samples.floor);
        const s = stats(samples[v.key]);
        results.breakdown[v.key] = { label: v.label, stats: roundStats(s), floor: roundStats(f), ratio: round3(s.median / f.median), bytes };
        log(`breakdown ${v.label}: ${ms(s.median)} ms vs floor ${ms(f.median)} ms → ${ratio(s.median / f.median)}`);
      }
    }

    // ---- A little concurrency: GET by id and filter eq against the floor, blocks at c = concurrency.
    if (concurrency > 1) {
      results.concurrent = {};
      for (const c of reads.filter((x) => x.key === "get_by_id" || x.key === "filter_eq")) {
        const out = await concurrentBlocks(floorStep.run, c.run, { concurrency, perBlock: 100, blocks: 5, idsLength: ids.length });
        results.concurrent[c.key] = out;
        log(`${c.label} @ c=${concurrency}: median ${ms(out.case.median)} ms vs floor ${ms(out.floor.median)} ms → ${ratio(out.ratio)}; throughput ${out.caseRps} vs ${out.floorRps} req/s`);
      }
    }

    // ---- Where the time went, per route, from wrangler dev's local trace store (best effort).
    results.traces = await routeCosts(server.persistTo, routeOf);

    const floorAll = stats(allFloor);
    results.floor = roundStats(floorAll);
    results.totalMs = Math.round(performance.now() - started);

    console.log(`\nSCIM benchmark — ${USERS.toLocaleString("en")} users, ${rounds} rounds per case (+${warmup} warm-up), sequential keep-alive, ratios against the floor samples interleaved with each case`);
    console.log(`floor = GET /__dev/bench/floor (bare D1 point select through the same Worker); all floor samples: median ${ms(floorAll.median)} ms, p95 ${ms(floorAll.p95)} ms (n=${floorAll.n})\n`);
    printTable(
      ["case", "median ms", "p95 ms", "floor median", "ratio", "target", "result", "body bytes"],
      [
        ["floor (all samples)", ms(floorAll.median), ms(floorAll.p95), ms(floorAll.median), "1.00×", "", "", ""],
        ...rows.map((x) => [x.label, ms(x.s.median), ms(x.s.p95), ms(x.f.median), x.extra ? `${ratio(x.r)} (${x.extra})` : ratio(x.r), x.target, x.verdict, x.bytes ?? ""]),
      ],
    );
    if (results.breakdown) {
      console.log("\nbreakdown (diagnostic variants, each interleaved with its own floor; no targets)");
      printTable(
        ["variant", "median ms", "p95 ms", "floor median", "ratio", "body bytes"],
        Object.values(results.breakdown).map((v) => [v.label, ms(v.stats.median), ms(v.stats.p95), ms(v.floor.median), ratio(v.ratio), v.bytes]),
      );
    }
    if (results.concurrent) {
      console.log(`\nconcurrency ${concurrency} (5 alternating blocks of 100 floor / 100 case requests)`);
      printTable(
        ["case", "median ms", "p95 ms", "floor median", "ratio", "req/s", "floor req/s"],
        Object.entries(results.concurrent).map(([k, v]) => [results.cases[k].label, ms(v.case.median), ms(v.case.p95), ms(v.floor.median), ratio(v.ratio), v.caseRps, v.floorRps]),
      );
    }
    printRouteCosts(results.traces);
    console.log(`\nseed: ${USERS} users in ${seed.usersMs} ms; groups: ${SMALL_GROUP} members ${seed.groups.small.ms} ms, ${BIG_GROUP} members ${seed.groups.big.ms} ms; total ${Math.round(results.totalMs / 1000)} s`);
    const file = writeResults("scim", results);
    console.log(`results: ${file}`);
    return results;
  } finally {
    await server.stop();
    log("wrangler dev stopped");
  }
}


/** Checks that each case does what it claims before timing it (wrong answers are errors, not figures). */
async function preflight(scim, groupIds, log) {
  const u = benchUser(54_321);
  const byId = (await scim("GET", `/Users/${u.id}`, undefined, 200)).json();
  assert(byId.userName === u.userName, `GET /Users/:id returned ${byId.userName}`);
  const eq = (await scim("GET", `/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`, undefined, 200)).json();
  assert(eq.totalResults === 1 && eq.Resources?.[0]?.id === u.id, `filter eq: totalResults ${eq.totalResults}`);
  const co = (await scim("GET", `/Users?filter=${encodeURIComponent('emails.value co "user0054321@"')}`, undefined, 200)).json();
  assert(co.totalResults === 1 && co.Resources?.[0]?.id === u.id, `filter co: totalResults ${co.totalResults}`);
  const page = (await scim("GET", "/Users?startIndex=1&count=100", undefined, 200)).json();
  assert(page.Resources?.length === 100 && page.totalResults >= USERS, `list page: ${page.Resources?.length} resources, totalResults ${page.totalResults}`);
  const deep = (await scim("GET", `/Users?startIndex=${USERS - 99}&count=100`, undefined, 200)).json();
  assert(deep.Resources?.length === 100, `deep list page: ${deep.Resources?.length} resources`);
  // excludedAttributes=members must be honoured on PATCH, or the 50k-member case would time a 50k-member body.
  const outsider = benchUser(OUTSIDER).id;
  const add = await scim("PATCH", `/Groups/${groupIds.big}?excludedAttributes=members`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: outsider }] }] }, [200, 204]);
  assert(add.status === 204 || !("members" in add.json()), "PATCH ?excludedAttributes=members still returned members");
  const withMember = (await scim("GET", `/Users/${outsider}`, undefined, 200)).json();
  assert((withMember.groups ?? []).some((g) => g.value === groupIds.big), "PATCH add did not add the member");
  await scim("PATCH", `/Groups/${groupIds.big}?excludedAttributes=members`, { schemas: [PATCH_OP], Operations: [{ op: "remove", path: `members[value eq "${outsider}"]` }] }, [200, 204]);
  const without = (await scim("GET", `/Users/${outsider}`, undefined, 200)).json();
  assert(!(without.groups ?? []).some((g) => g.value === groupIds.big), "PATCH remove did not remove the member");
  log(`preflight ok (PATCH response with excludedAttributes=members: ${add.status}, ${add.text.length} bytes)`);
}

function assert(cond, message) {
  if (!cond) throw new Error(`preflight: ${message}`);
}

/**
 * `blocks` alternating blocks of `perBlock` floor requests then `perBlock` case requests, each block
 * run by `concurrency` workers. Per-request latencies and each side's throughput.
 */
async function concurrentBlocks(floorRun, caseRun, { concurrency, perBlock, blocks, idsLength }) {
  const floor = [];
  const kase = [];
  let floorTime = 0;
  let caseTime = 0;
  const block = async (run, sink, offset) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < perBlock) {
          const i = (offset + next++) % idsLength;
          sink.push((await run(i)).ms);
        }
      }),
    );
    return performance.now() - t0;
  };
  for (let b = 0; b < blocks; b++) {
    const order = b % 2 === 0 ? ["floor", "case"] : ["case", "floor"];
    for (const which of order) {
      if (which === "floor") floorTime += await block(floorRun, floor, b * perBlock);
      else caseTime += await block(caseRun, kase, b * perBlock);
    }
  }
  const f = stats(floor);
  const c = stats(kase);
  return {
    concurrency,
    floor: roundStats(f),
    case: roundStats(c),
    ratio: round3(c.median / f.median),
    floorRps: Math.round((floor.length / floorTime) * 1000),
    caseRps: Math.round((kase.length / caseTime) * 1000),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runScim().then(
    () => process.exit(0),
    (err) => {
      console.error(`bench scim: ${err.stack ?? err}`);
      process.exit(1);
    },
  );
}
