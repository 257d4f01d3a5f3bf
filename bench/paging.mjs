// Paging benchmark: RFC 9865 cursor pages at the first, a middle and the last position of a
// 20,000-user directory, an index (startIndex) page at a random depth, and `emails.value co`,
// each interleaved with a floor that reads THE SAME rows through the same Worker:
//   pages  → GET /__dev/bench/floor-page (one keyset SELECT of the same 100 users, returned bare)
//   filter → GET /__dev/bench/floor?id= (a point select of the one matching user)
//
//   npm run bench -- paging            (or: node bench/paging.mjs)
//   env: BENCH_N (rounds per case, default 200), BENCH_WARMUP (default 20),
//        BENCH_BREAKDOWN (default on; 0 skips the diagnostic variants), BENCH_KEEP_STATE=1
//
// Targets (from the issue): a cursor page of 100 at any depth ≤ 1.3× its floor; emails.value co ≤ 1.3×.
// The index page at a random depth is printed for comparison (no target). A preflight walks the whole
// directory by cursor and checks every page before anything is timed: wrong answers are errors, not figures.

import { pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import { adminClient, benchUser, createConnection, interleave, logger, machine, ms, printTable, ratio, rng, round3, roundStats, scimClient, startServer, stats, writeResults } from "./lib.mjs";
import { printRouteCosts, routeCosts, routeOf } from "./traces.mjs";

const USERS = 20_000;
const PAGE = 100;
const TARGET = 1.3;

/** Runs the paging bench; resolves its results object (also written to bench/.results/paging.json). */
export async function runPaging({
  rounds = Number(process.env.BENCH_N ?? 200),
  warmup = Number(process.env.BENCH_WARMUP ?? 20),
  breakdown = process.env.BENCH_BREAKDOWN !== "0",
} = {}) {
  const log = logger("paging");
  const started = performance.now();
  const server = await startServer({ label: "bench-paging", log });
  try {
    const admin = adminClient(server);
    const conn = await createConnection(admin, { name: "bench-paging", type: "okta" });
    const scim = scimClient(conn);
    // One seed call: every user gets the same created_at, so the default order (created_at, id) is id order.
    const seeded = await admin("POST", "/__dev/bench/seed", { idp_id: conn.id, users: { from: 1, count: USERS } }, 200);
    log(`seeded ${USERS} users in ${Math.round(seeded.ms)} ms`);

    const { cursors, createdAt } = await preflight(scim, admin, conn, log);

    const q = encodeURIComponent;
    const pick = rng(0x9a9e);
    const n = warmup + rounds;
    const randomStart = Array.from({ length: n }, () => pick(1, USERS - PAGE + 1));
    const randomUser = Array.from({ length: n }, () => pick(1, USERS));
    // Floor for the page starting after user `k` (k = 0: the first page).
    const floorPage = (k) => ({ name: "floor", run: () => admin("GET", `/__dev/bench/floor-page?idp_id=${conn.id}&after_created=${k ? q(createdAt) : ""}&after_id=${k ? benchUser(k).id : ""}&count=${PAGE}`, undefined, 200) });
    const cursorAt = (k) => (k === 0 ? "" : cursors.get(k));
    const middle = USERS / 2;
    const last = USERS - PAGE;
    const cases = [
      { key: "cursor_first", label: `cursor page of ${PAGE}: first`, target: TARGET, floor: floorPage(0), run: () => scim("GET", `/Users?cursor=&count=${PAGE}`, undefined, 200) },
      { key: "cursor_middle", label: `cursor page of ${PAGE}: middle (after ${middle})`, target: TARGET, floor: floorPage(middle), run: () => scim("GET", `/Users?cursor=${cursorAt(middle)}&count=${PAGE}`, undefined, 200) },
      { key: "cursor_last", label: `cursor page of ${PAGE}: last (after ${last})`, target: TARGET, floor: floorPage(last), run: () => scim("GET", `/Users?cursor=${cursorAt(last)}&count=${PAGE}`, undefined, 200) },
      {
        key: "index_random",
        label: `startIndex page of ${PAGE}: random depth`,
        target: null,
        floor: { name: "floor", run: (i) => floorPage(randomStart[i] - 1).run() },
        run: (i) => scim("GET", `/Users?startIndex=${randomStart[i]}&count=${PAGE}`, undefined, 200),
      },
      {
        key: "filter_co",
        label: 'filter=emails.value co "userNNNNNNN@"',
        target: TARGET,
        floor: { name: "floor", run: (i) => admin("GET", `/__dev/bench/floor?id=${benchUser(randomUser[i]).id}`, undefined, 200) },
        run: (i) => scim("GET", `/Users?filter=${q(`emails.value co "${benchUser(randomUser[i]).userName.split("@")[0]}@"`)}`, undefined, 200),
      },
    ];
    // Diagnostic variants of the filter case: which piece of work the ratio is made of.
    const variants = [
      { key: "co_no_groups", label: "… co, excludedAttributes=groups (no groups query)", path: (i) => `/Users?filter=${q(`emails.value co "${benchUser(randomUser[i]).userName.split("@")[0]}@"`)}&excludedAttributes=groups` },
      { key: "co_ids_only", label: "… co, attributes=id (no groups, minimal rendering)", path: (i) => `/Users?filter=${q(`emails.value co "${benchUser(randomUser[i]).userName.split("@")[0]}@"`)}&attributes=id` },
      { key: "co_count_only", label: "… co, count=0 (the count query alone)", path: (i) => `/Users?filter=${q(`emails.value co "${benchUser(randomUser[i]).userName.split("@")[0]}@"`)}&count=0` },
      { key: "eq_same_user", label: 'filter=userName eq "…" (same user, B-tree seek)', path: (i) => `/Users?filter=${q(`userName eq "${benchUser(randomUser[i]).userName}"`)}` },
      { key: "sw_same_user", label: 'filter=emails.value sw "userNNNNNNN@" (indexed semi-join)', path: (i) => `/Users?filter=${q(`emails.value sw "${benchUser(randomUser[i]).userName.split("@")[0]}@"`)}` },
    ];
    const middleFloor = cases.find((c) => c.key === "cursor_middle").floor;
    const pageVariants = [
      { key: "page_no_groups", label: "cursor page: middle, excludedAttributes=groups (no groups query)", path: () => `/Users?cursor=${cursorAt(middle)}&count=${PAGE}&excludedAttributes=groups` },
      { key: "page_ids_only", label: "cursor page: middle, attributes=id (no groups, minimal rendering)", path: () => `/Users?cursor=${cursorAt(middle)}&count=${PAGE}&attributes=id` },
      { key: "page_count1", label: "cursor page: middle, count=1 (1 row + count)", path: () => `/Users?cursor=${cursorAt(middle)}&count=1` },
    ];
    if (breakdown) for (const v of pageVariants) cases.push({ key: v.key, label: v.label, target: null, floor: middleFloor, run: (i) => scim("GET", v.path(i), undefined, 200), diagnostic: true });
    const filterFloor = cases.find((c) => c.key === "filter_co").floor;
    if (breakdown) for (const v of variants) cases.push({ key: v.key, label: v.label, target: null, floor: filterFloor, run: (i) => scim("GET", v.path(i), undefined, 200), diagnostic: true });

    const results = { machine: machine(), config: { users: USERS, page: PAGE, rounds, warmup, breakdown }, cases: {} };
    const rows = [];
    for (const c of cases) {
      let bytes = 0;
      const run = async (i) => {
        const r = await c.run(i);
        bytes = r.text.length;
        return r;
      };
      const r = await interleave([c.floor, { name: c.key, run }], { rounds: c.diagnostic ? Math.min(rounds, 120) : rounds, warmup: c.diagnostic ? Math.min(warmup, 10) : warmup });
      const f = stats(r.samples.floor);
      const s = stats(r.samples[c.key]);
      const x = s.median / f.median;
      const verdict = c.target === null ? "info" : x <= c.target ? "PASS" : "MISS";
      results.cases[c.key] = { label: c.label, stats: roundStats(s), floor: roundStats(f), ratio: round3(x), target: c.target, verdict, rounds: r.rounds, truncated: r.truncated, bytes, diagnostic: !!c.diagnostic };
      rows.push([c.label, ms(s.median), ms(s.p95), ms(f.median), ratio(x), c.target === null ? "-" : `≤ ${c.target}×`, verdict, bytes]);
      log(`${c.label}: ${ms(s.median)} ms vs floor ${ms(f.median)} ms → ${ratio(x)} ${verdict}`);
    }

    results.traces = await routeCosts(server.persistTo, (url, method) => {
      const route = routeOf(url, method);
      const cursor = new URL(url).searchParams.get("cursor");
      return route && cursor !== null ? `${route} cursor=${cursor === "" ? "first" : "…"}` : route;
    });
    results.totalMs = Math.round(performance.now() - started);

    console.log(`\nPaging benchmark — ${USERS.toLocaleString("en")} users, ${rounds} rounds per case (+${warmup} warm-up), sequential keep-alive, each case interleaved with its own floor`);
    console.log("floors: page cases → GET /__dev/bench/floor-page (the same 100 rows by keyset, bare JSON); filter cases → GET /__dev/bench/floor?id= (point select of the matching user)\n");
    printTable(["case", "median ms", "p95 ms", "floor median", "ratio", "target", "result", "body bytes"], rows);
    printRouteCosts(results.traces);
    const file = writeResults("paging", results);
    console.log(`results: ${file}`);
    return results;
  } finally {
    await server.stop();
    log("wrangler dev stopped");
  }
}

/**
 * Walks the whole directory by cursor (pages of 100) and checks every page: the right 100 users in
 * order, totalResults, cursors present exactly where RFC 9865 says. Checks the floor reads the same
 * rows, that a previousCursor leads back, that startIndex pages hold what their floor holds, and the
 * filter's one match. Returns the nextCursor issued after each position (position → cursor).
 */
async function preflight(scim, admin, conn, log) {
  const t0 = performance.now();
  const cursors = new Map();
  let page = (await scim("GET", `/Users?cursor=&count=${PAGE}`, undefined, 200)).json();
  let seen = 0;
  let createdAt;
  for (;;) {
    const expected = Array.from({ length: Math.min(PAGE, USERS - seen) }, (_, j) => benchUser(seen + j + 1).id);
    assert(JSON.stringify(page.Resources.map((r) => r.id)) === JSON.stringify(expected), `cursor page after ${seen}: wrong users (${page.Resources[0]?.id}…)`);
    assert(page.totalResults === USERS, `cursor page after ${seen}: totalResults ${page.totalResults}`);
    assert(seen === 0 ? page.previousCursor === undefined : typeof page.previousCursor === "string", `cursor page after ${seen}: previousCursor`);
    createdAt ??= page.Resources[0].meta.created;
    seen += page.Resources.length;
    if (seen === USERS) {
      assert(page.nextCursor === undefined, "last cursor page still has a nextCursor");
      break;
    }
    assert(typeof page.nextCursor === "string", `cursor page ending at ${seen}: no nextCursor`);
    cursors.set(seen, page.nextCursor);
    page = (await scim("GET", `/Users?cursor=${page.nextCursor}&count=${PAGE}`, undefined, 200)).json();
  }
  // Back one page from the last one.
  const back = (await scim("GET", `/Users?cursor=${page.previousCursor}&count=${PAGE}`, undefined, 200)).json();
  assert(back.Resources[0]?.id === benchUser(USERS - 2 * PAGE + 1).id && back.Resources.length === PAGE, "previousCursor of the last page");
  // Floors read the same rows.
  for (const k of [0, USERS / 2, USERS - PAGE]) {
    const floor = (await admin("GET", `/__dev/bench/floor-page?idp_id=${conn.id}&after_created=${k ? encodeURIComponent(createdAt) : ""}&after_id=${k ? benchUser(k).id : ""}&count=${PAGE}`, undefined, 200)).json();
    assert(floor.length === PAGE && floor[0].id === benchUser(k + 1).id && floor.at(-1).id === benchUser(k + PAGE).id, `floor-page after ${k} reads other rows`);
    const viaIndex = (await scim("GET", `/Users?startIndex=${k + 1}&count=${PAGE}`, undefined, 200)).json();
    assert(viaIndex.Resources.map((r) => r.id).join() === floor.map((r) => r.id).join(), `startIndex=${k + 1} and its floor differ`);
  }
  const u = benchUser(12_345);
  const co = (await scim("GET", `/Users?filter=${encodeURIComponent(`emails.value co "${u.userName.split("@")[0]}@"`)}`, undefined, 200)).json();
  assert(co.totalResults === 1 && co.Resources[0]?.id === u.id, `filter co: totalResults ${co.totalResults}`);
  log(`preflight ok: walked ${USERS} users in ${USERS / PAGE} cursor pages (${Math.round(performance.now() - t0)} ms)`);
  return { cursors, createdAt };
}

function assert(cond, message) {
  if (!cond) throw new Error(`preflight: ${message}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runPaging().then(
    () => process.exit(0),
    (err) => {
      console.error(`bench paging: ${err.stack ?? err}`);
      process.exit(1);
    },
  );
}
