// Throughput benchmark: SCIM under real IdP traffic is concurrent (Entra ID and Okta run several
// requests at once), so this bench drives 8 concurrent clients and compares each case's throughput
// with a FLOOR measured the same way in the same run, in alternating blocks (floor, case, case,
// floor, …) so load drift on a shared machine hits both sides alike:
//
//   floor                                   case                                   target
//   D1 point select      (/__dev/bench/floor)          GET /Users/:id              ≥ 0.8× floor req/s
//   one-batch D1 write   (/__dev/bench/floor-write)    POST /Users                 ≥ 0.5×
//   one-batch D1 write                                 PATCH /Groups add 1 member  ≥ 0.5×
//   D1 write + 1 DO RPC  (/__dev/bench/floor-write-do) PATCH active=false with
//                                                      user_deprovision on         ≥ 0.5×
//
// Then: N concurrent member PATCHes on ONE group (each adds a different member) vs N concurrent
// write floors, after which every member must be in the group; and a member PATCH on a
// 2,000-member group vs a 10-member group at c=8 with 20,000 users seeded (≤ 1.2× latency).
//
// A preflight checks that every floor and case does what it claims before anything is timed.
// Every answer is counted: 2xx, 4xx and 5xx apart. The bench FAILS (throws, so `npm run bench`
// exits non-zero) on a preflight failure, any 5xx or network error, or a member lost by a 2xx
// PATCH; a target miss is printed, not fatal. Group PATCH may answer 200 or 204.
//
//   npm run bench -- throughput      (or: node bench/throughput.mjs)
//   env: BENCH_TP_CONCURRENCY (default 8), BENCH_TP_BLOCK (requests per block, default 48),
//        BENCH_TP_BLOCKS (blocks per side, default 4), BENCH_TP_CONTENTION_N (default 16),
//        BENCH_TP_CONTENTION_ROUNDS (default 5)

import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { accessApp, adminClient, benchUser, createConnection, logger, machine, ms, PATCH_OP, printTable, ratio, rng, round3, roundStats, scimClient, startServer, stats, USER_SCHEMA, writeResults } from "./lib.mjs";

const USERS = 20_000;
const SMALL = 10;
const BIG = 2_000;
const READ_TARGET = 0.8;
const WRITE_TARGET = 0.5;
const BIG_TARGET = 1.2;
const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
// Disjoint ranges of bench users, so no case touches another's rows (the groups hold users 1…2,000).
const RANGE = { memberPatch: 3_000, bigSmall: 6_000, deactivate: 9_000, contention: 15_000, preflight: 19_990 };

/** Runs the throughput bench; resolves its results (also written to bench/.results/throughput.json). */
export async function runThroughput({
  concurrency = Number(process.env.BENCH_TP_CONCURRENCY ?? 8),
  perBlock = Number(process.env.BENCH_TP_BLOCK ?? 48),
  blocks = Number(process.env.BENCH_TP_BLOCKS ?? 4),
  contentionN = Number(process.env.BENCH_TP_CONTENTION_N ?? 16),
  contentionRounds = Number(process.env.BENCH_TP_CONTENTION_ROUNDS ?? 5),
} = {}) {
  const log = logger("throughput");
  const started = performance.now();
  const server = await startServer({ label: "bench-throughput", log });
  try {
    const admin = adminClient(server);
    // A development-IdP connection, so the preflight can log a user in (issue 8: no dev session routes).
    const conn = await createConnection(admin, { name: "bench-throughput", type: "oidc", userDeprovision: true });
    const scim = scimClient(conn);

    // ---- Seed: 20,000 users; per client one 10-member and one 2,000-member group (no two clients share a group).
    let t0 = performance.now();
    await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, users: { from: 1, count: USERS } }, 200);
    const small = [];
    const big = [];
    for (let w = 0; w < concurrency; w++) {
      small.push((await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, group: { display_name: `tp-small-${w}`, size: SMALL } }, 200)).json().result.group_id);
      big.push((await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, group: { display_name: `tp-big-${w}`, size: BIG } }, 200)).json().result.group_id);
    }
    log(`seeded ${USERS} users, ${concurrency}× ${SMALL}-member and ${concurrency}× ${BIG}-member groups in ${Math.round(performance.now() - t0)} ms`);

    await preflight({ admin, scim, server, conn, small, big, log });

    // ---- Raw HTTP that never throws: every answer is tallied (2xx / 4xx / 5xx / network) per case.
    const tallies = {};
    const tally = (key) => (tallies[key] ??= { "2xx": 0, "4xx": 0, "5xx": 0, network: 0, other: 0, samples5xx: [] });
    const hit = async (key, url, { method = "GET", bearer, body, type = "application/json" } = {}) => {
      const t = tally(key);
      const t1 = performance.now();
      try {
        const res = await fetch(url, {
          method,
          headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": type }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        const bucket = res.status >= 200 && res.status < 300 ? "2xx" : res.status >= 500 ? "5xx" : res.status >= 400 ? "4xx" : "other";
        t[bucket]++;
        if (bucket === "5xx" && t.samples5xx.length < 3) t.samples5xx.push(`${res.status} ${text.slice(0, 160)}`);
        if (bucket === "4xx" && t.samples4xx === undefined) t.samples4xx = `${res.status} ${text.slice(0, 160)}`;
        return { status: res.status, ms: performance.now() - t1, text };
      } catch (err) {
        t.network++;
        return { status: 0, ms: performance.now() - t1, text: String(err) };
      }
    };
    const dev = (key, p, method = "GET") => hit(key, `${server.baseUrl}${p}`, { method, bearer: server.token });
    const sc = (key, method, p, body) => hit(key, `${conn.scimBaseUrl}${p}`, { method, bearer: conn.secret, body, type: "application/scim+json" });

    const pick = rng(0x7b0c);
    const anyUser = () => benchUser(pick(1, USERS)).id;
    const runTag = Date.now().toString(36);
    const addMember = (userN) => ({ schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: benchUser(userN).id }] }] });
    const floors = {
      read: { key: "floor_read", label: "D1 point select (/__dev/bench/floor)", run: () => dev("floor_read", `/__dev/bench/floor?id=${anyUser()}`) },
      write: { key: "floor_write", label: "one-batch D1 write (/__dev/bench/floor-write)", run: () => dev("floor_write", `/__dev/bench/floor-write?id=${anyUser()}`, "POST") },
      writeDo: { key: "floor_write_do", label: "D1 write + 1 DO RPC (/__dev/bench/floor-write-do)", run: () => dev("floor_write_do", `/__dev/bench/floor-write-do?id=${anyUser()}`, "POST") },
    };
    const cases = [
      { key: "get_by_id", label: "GET /Users/:id", floor: floors.read, target: READ_TARGET, run: () => sc("get_by_id", "GET", `/Users/${anyUser()}`) },
      {
        key: "create_user",
        label: "POST /Users",
        floor: floors.write,
        target: WRITE_TARGET,
        run: (i) => sc("create_user", "POST", "/Users", { schemas: [USER_SCHEMA], userName: `tp-${runTag}-${i}@bench.example`, emails: [{ value: `tp-${runTag}-${i}@bench.example`, primary: true }], active: true }),
      },
      { key: "member_patch", label: `PATCH /Groups/:id add 1 member (${SMALL}-member group per client)`, floor: floors.write, target: WRITE_TARGET, run: (i, w) => sc("member_patch", "PATCH", `/Groups/${small[w]}?excludedAttributes=members`, addMember(RANGE.memberPatch + i)) },
      {
        key: "deactivate",
        label: "PATCH /Users/:id active=false (user_deprovision on: DO RPC)",
        floor: floors.writeDo,
        target: WRITE_TARGET,
        run: (i) => sc("deactivate", "PATCH", `/Users/${benchUser(RANGE.deactivate + i).id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] }),
      },
    ];

    const results = { machine: machine(), config: { users: USERS, concurrency, perBlock, blocks, contentionN, contentionRounds }, cases: {} };
    const rows = [];

    // ---- 1. Each case against its floor, in alternating blocks at c = concurrency.
    for (const c of cases) {
      const out = await alternate({ floor: c.floor.run, case: c.run }, { concurrency, perBlock, blocks });
      const r = out.case.rps / out.floor.rps;
      const verdict = r >= c.target ? "PASS" : "MISS";
      results.cases[c.key] = { label: c.label, floor: c.floor.label, floor_rps: round3(out.floor.rps), case_rps: round3(out.case.rps), ratio: round3(r), target: c.target, verdict, floor_latency: roundStats(out.floor.lat), case_latency: roundStats(out.case.lat) };
      rows.push([c.label, Math.round(out.case.rps), Math.round(out.floor.rps), ratio(r), `≥ ${c.target}× (${c.floor.key})`, verdict, ms(out.case.lat.median), ms(out.case.lat.p95)]);
      log(`${c.label}: ${Math.round(out.case.rps)} req/s vs ${c.floor.key} ${Math.round(out.floor.rps)} req/s → ${ratio(r)} ${verdict}`);
    }

    // ---- 2. N concurrent member PATCHes on ONE group vs N concurrent write floors; then every member must be there.
    const contention = { n: contentionN, rounds: [], patchMs: 0, floorMs: 0, lost: 0, missingAfter4xx: 0 };
    for (let round = 0; round < contentionRounds; round++) {
      const created = await sc("contention_setup", "POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: `tp-contention-${runTag}-${round}` });
      if (created.status !== 201) throw new Error(`contention: creating the group answered ${created.status} ${created.text.slice(0, 200)}`);
      const groupId = JSON.parse(created.text).id;
      const members = Array.from({ length: contentionN }, (_, k) => RANGE.contention + round * contentionN + k);
      const burst = async (fn) => {
        const t1 = performance.now();
        const answers = await Promise.all(members.map(fn));
        return [answers, performance.now() - t1];
      };
      const patchBurst = () => burst((n) => sc("contention_patch", "PATCH", `/Groups/${groupId}?excludedAttributes=members`, addMember(n)));
      const floorBurst = () => burst(() => floors.write.run());
      // Alternate which side goes first, as in the blocks above.
      let patch;
      let floor;
      if (round % 2 === 0) {
        patch = await patchBurst();
        floor = await floorBurst();
      } else {
        floor = await floorBurst();
        patch = await patchBurst();
      }
      const [answers, patchMs] = patch;
      const [, floorMs] = floor;
      contention.patchMs += patchMs;
      contention.floorMs += floorMs;
      // Verify from each user's side (`groups` is read from group_members, independent of member paging).
      let present = 0;
      for (const [k, n] of members.entries()) {
        const user = await sc("contention_verify", "GET", `/Users/${benchUser(n).id}?attributes=groups`);
        const inGroup = user.status === 200 && (JSON.parse(user.text).groups ?? []).some((g) => g.value === groupId);
        if (inGroup) present++;
        else if (answers[k].status >= 200 && answers[k].status < 300) contention.lost++;
        else contention.missingAfter4xx++;
      }
      const non2xx = answers.filter((a) => a.status < 200 || a.status >= 300);
      contention.rounds.push({ patch_ms: round3(patchMs), floor_ms: round3(floorMs), present, non2xx: non2xx.map((a) => a.status) });
      log(`contention round ${round + 1}: ${contentionN} PATCHes in ${ms(patchMs)} ms vs ${contentionN} floors in ${ms(floorMs)} ms; ${present}/${contentionN} members present; non-2xx: ${non2xx.map((a) => a.status).join(", ") || "none"}`);
    }
    const cPatchRps = (contentionN * contentionRounds * 1000) / contention.patchMs;
    const cFloorRps = (contentionN * contentionRounds * 1000) / contention.floorMs;
    const cRatio = cPatchRps / cFloorRps;
    const cVerdict = cRatio >= WRITE_TARGET ? "PASS" : "MISS";
    results.contention = { ...contention, patch_rps: round3(cPatchRps), floor_rps: round3(cFloorRps), ratio: round3(cRatio), target: WRITE_TARGET, verdict: cVerdict };
    rows.push([`${contentionN} concurrent member PATCHes on ONE group`, Math.round(cPatchRps), Math.round(cFloorRps), ratio(cRatio), `≥ ${WRITE_TARGET}× (floor_write ×${contentionN})`, cVerdict, "-", "-"]);

    // ---- 3. Member PATCH on a 2,000-member group vs a 10-member group, c = concurrency (one group per client).
    const bigSmall = await alternate(
      {
        small: (i, w) => sc("patch_small_group", "PATCH", `/Groups/${small[w]}?excludedAttributes=members`, addMember(RANGE.bigSmall + 2 * i)),
        big: (i, w) => sc("patch_big_group", "PATCH", `/Groups/${big[w]}?excludedAttributes=members`, addMember(RANGE.bigSmall + 2 * i + 1)),
      },
      { concurrency, perBlock, blocks },
    );
    const bsRatio = bigSmall.big.lat.median / bigSmall.small.lat.median;
    const bsVerdict = bsRatio <= BIG_TARGET ? "PASS" : "MISS";
    results.big_vs_small = { small: { rps: round3(bigSmall.small.rps), latency: roundStats(bigSmall.small.lat) }, big: { rps: round3(bigSmall.big.rps), latency: roundStats(bigSmall.big.lat) }, ratio: round3(bsRatio), target: BIG_TARGET, verdict: bsVerdict };
    rows.push([`PATCH add 1 member: ${BIG}-member vs ${SMALL}-member group (median latency)`, Math.round(bigSmall.big.rps), Math.round(bigSmall.small.rps), `${ratio(bsRatio)} latency`, `≤ ${BIG_TARGET}× ${SMALL}-member`, bsVerdict, ms(bigSmall.big.lat.median), ms(bigSmall.big.lat.p95)]);

    results.tallies = Object.fromEntries(Object.entries(tallies).map(([k, v]) => [k, v]));
    results.totalMs = Math.round(performance.now() - started);

    console.log(`\nThroughput benchmark — ${USERS.toLocaleString("en")} users, c=${concurrency}, ${blocks} blocks × ${perBlock} requests per side, floor and case blocks alternating`);
    printTable(["case", "req/s", "floor req/s", "ratio", "target", "result", "median ms", "p95 ms"], rows);
    console.log("\nanswers per case (5xx and network errors are fatal; 4xx are reported)");
    printTable(["case", "2xx", "4xx", "5xx", "network", "example"], Object.entries(tallies).map(([k, v]) => [k, v["2xx"], v["4xx"], v["5xx"], v.network, v.samples5xx[0] ?? v.samples4xx ?? ""]));
    console.log(`\ncontention: ${contention.lost} member(s) lost by a 2xx PATCH, ${contention.missingAfter4xx} missing after a non-2xx answer (the IdP would retry those)`);
    console.log(`total ${Math.round(results.totalMs / 1000)} s`);
    console.log(`results: ${writeResults("throughput", results)}`);

    const fatal = [];
    const fives = Object.entries(tallies).filter(([, v]) => v["5xx"] || v.network);
    if (fives.length) fatal.push(`5xx or network errors: ${fives.map(([k, v]) => `${k} ${v["5xx"]}×5xx ${v.network}×network${v.samples5xx[0] ? ` (${v.samples5xx[0]})` : ""}`).join("; ")}`);
    if (contention.lost) fatal.push(`${contention.lost} member(s) answered 2xx but are not in the group (lost update)`);
    if (fatal.length) {
      const err = new Error(`throughput bench failed: ${fatal.join(" | ")}`);
      err.results = results;
      throw err;
    }
    return results;
  } finally {
    await server.stop();
    log("wrangler dev stopped");
  }
}

/**
 * `blocks` rounds of one block per side (order alternating each round); a block is `perBlock`
 * requests run by `concurrency` workers, `run(i, worker)` with a per-side request index `i`.
 * One untimed warm-up block of `concurrency × 2` requests per side first. Per side: req/s over the
 * summed block wall times, and per-request latency stats.
 */
async function alternate(sides, { concurrency, perBlock, blocks }) {
  const names = Object.keys(sides);
  const state = Object.fromEntries(names.map((n) => [n, { next: 0, lat: [], wall: 0 }]));
  const block = async (name, count, timedBlock) => {
    const s = state[name];
    let left = count;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        while (left > 0) {
          left--;
          const r = await sides[name](s.next++, w);
          if (timedBlock) s.lat.push(r.ms);
        }
      }),
    );
    if (timedBlock) s.wall += performance.now() - t0;
  };
  for (const n of names) await block(n, concurrency * 2, false);
  for (let b = 0; b < blocks; b++) for (const n of b % 2 === 0 ? names : [...names].reverse()) await block(n, perBlock, true);
  return Object.fromEntries(names.map((n) => [n, { rps: (state[n].lat.length * 1000) / state[n].wall, lat: stats(state[n].lat) }]));
}

/** Every floor and case must do what it claims before it is timed (a wrong answer is an error, not a figure). */
async function preflight({ admin, scim, server, conn, small, big, log }) {
  const u = benchUser(RANGE.preflight);
  const assert = (cond, message) => {
    if (!cond) throw new Error(`preflight: ${message}`);
  };
  const floor = (await admin("GET", `/__dev/bench/floor?id=${u.id}`, undefined, 200)).json();
  assert(floor?.id === u.id, `floor read returned ${JSON.stringify(floor)?.slice(0, 120)}`);
  for (const p of ["/__dev/bench/floor-write", "/__dev/bench/floor-write-do"]) {
    const w = (await admin("POST", `${p}?id=${u.id}`, undefined, 200)).json();
    assert(w.changes === 1, `${p} wrote ${w.changes} row(s), expected 1`);
  }
  const byId = (await scim("GET", `/Users/${u.id}`, undefined, 200)).json();
  assert(byId.userName === u.userName, `GET /Users/:id returned ${byId.userName}`);
  const created = (await scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `tp-preflight-${Date.now()}@bench.example`, active: true }, 201)).json();
  assert((await scim("GET", `/Users/${created.id}`, undefined, 200)).json().id === created.id, "created user cannot be read back");
  for (const groupId of [small[0], big[0]]) {
    const add = await scim("PATCH", `/Groups/${groupId}?excludedAttributes=members`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: u.id }] }] }, [200, 204]);
    assert(add.status === 204 || !("members" in add.json()), "PATCH ?excludedAttributes=members still returned members");
    assert(((await scim("GET", `/Users/${u.id}?attributes=groups`, undefined, 200)).json().groups ?? []).some((g) => g.value === groupId), `PATCH add did not add the member to ${groupId}`);
    await scim("PATCH", `/Groups/${groupId}?excludedAttributes=members`, { schemas: [PATCH_OP], Operations: [{ op: "remove", path: `members[value eq "${u.id}"]` }] }, [200, 204]);
    assert(!((await scim("GET", `/Users/${u.id}?attributes=groups`, undefined, 200)).json().groups ?? []).some((g) => g.value === groupId), `PATCH remove did not remove the member from ${groupId}`);
  }
  // Deactivation with user_deprovision on must revoke a live session (so it really makes the DO
  // call): a real login through the development IdP, a proxied 200, then a 302 back to login.
  const d = benchUser(RANGE.preflight + 1);
  const app = await accessApp(server, conn, { label: "tp-preflight" });
  try {
    const { token, claims } = await app.login(d.userName);
    assert(claims.sub === d.id, `login as ${d.userName} gave a token for ${claims.sub}`);
    const before = await app.proxied(token);
    assert(before.status === 200 && before.email === d.userName, `a fresh session does not proxy 200: ${before.status} ${before.text.slice(0, 120)}`);
    const down = (await scim("PATCH", `/Users/${d.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] }, 200)).json();
    assert(down.active === false, "PATCH active=false did not deactivate");
    const after = await app.proxied(token);
    assert(after.status === 302 && /\/cdn-cgi\/access\/login\//.test(after.location ?? ""), `proxied request after deactivation: ${after.status} ${after.location ?? after.text.slice(0, 120)}`);
  } finally {
    await app.close();
  }
  log(`preflight ok (floors write 1 row each; GET, create, member add/remove on ${SMALL}- and ${BIG}-member groups, deactivation revokes) on ${server.baseUrl}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runThroughput().then(
    () => process.exit(0),
    (err) => {
      console.error(`bench throughput: ${err.stack ?? err}`);
      process.exit(1);
    },
  );
}
