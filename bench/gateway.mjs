// Gateway benchmark (issue 9): what identity and policy cost a DoH query, and what 10,000 rules cost.
//
//   (a) policy   POST <base>/dns-query/<token> (RFC 8484, application/dns-message): device token →
//                the user's Durable Object session check (identity with SCIM groups) → DNS rules →
//                answer cache / upstream → answer (+ the DNS activity log entry, under waitUntil)
//   (b) floor    POST <base>/__dev/bench/doh-floor: the same Worker parses the query and calls the same
//                `resolveUpstream` (same answer cache, same upstream) — no token, session or rules. The
//                dev route's admin-token check is the only extra step on the floor's side.
//
// The upstream is a local Node DoH server started here (HTTP, 127.0.0.1, passed to wrangler dev as
// `--var GATEWAY_UPSTREAM:<url>`) answering every A query with 192.0.2.1 (TTL 300). Both sides are
// measured twice, doing the same upstream work:
//   - miss: a fresh name per query (`m<i>.…`), so the Worker's answer cache misses and every query makes
//           one upstream exchange (checked: the upstream counts one request per measured query);
//   - hit:  one fixed name, answered from the Worker's answer cache (the upstream is not asked).
//   - blocked (info): `a.b.example.com` for the user in "risky", answered 0.0.0.0 by policy (no upstream).
// Target: (a) ≤ 2× (b), median, for miss and for hit, sequential and with C concurrent clients.
//
// Rules, 10 vs 10,000: the 10 rules are created through the admin API (incl. the seed's "block
// example.com and its subdomains for the group risky"); 9,990 more block rules on other domains are
// inserted by `/__dev/bench/gateway-rules` (parsed as the API would) and switched on and off in
// alternating blocks (10, 10k, 10, 10k …; each switch drops the isolate's RuleSet, the first queries of
// a block rebuild it and are not timed). Measured in each block: (a) miss and blocked queries end to end,
// and `matchRule` alone inside workerd (`/__dev/bench/rule-match`: the request timed with N iterations
// minus the same request with 0, divided by N). Target: growth ≤ 1.2× from 10 to 10,000 rules.
// Note: the resolver reloads its RuleSet from D1 every 5 s per isolate; with 10,000 rules that reload
// lands on one query (it shows in the max / p99 of the 10k blocks, not in the median).
//
// Self-checks that fail the bench (not a MISS): the device is listed, not revoked, and resolves before
// measuring; a forged token is refused 401; every measured answer is parsed and must be the expected one
// (resolved: NOERROR with A 192.0.2.1; blocked: NOERROR with A 0.0.0.0); the upstream must see exactly
// one exchange per miss query and never the device token; each rules block must match as configured.
// Any 5xx or network error is counted apart and fails the bench.
//
//   npm run bench -- gateway        (or: node bench/gateway.mjs)
//   env: BENCH_GATEWAY_N (sequential rounds, default 300), BENCH_WARMUP (default 30),
//        BENCH_GATEWAY_CONCURRENCY (default 8), BENCH_GATEWAY_REQUESTS (per case, concurrent, default 800),
//        BENCH_GATEWAY_RULES (bulk rules + 10, default 10000), BENCH_GATEWAY_RULE_ROUNDS (per block, default 80),
//        BENCH_GATEWAY_MATCH_ITERATIONS (matchRule calls per timed rule-match request, default 20000)

import { randomBytes } from "node:crypto";
import http from "node:http";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { keepAliveAgent } from "../scripts/lib/access-client.mjs";
import { HttpError, logger, machine, ms, printTable, ratio, round3, roundStats, startServer, stats, writeResults } from "./lib.mjs";

const TARGET = 2;
const RULES_TARGET = 1.2;
const UPSTREAM_IP = [192, 0, 2, 1];
const BLOCKED_IP = [0, 0, 0, 0];

// ---------------------------------------------------------------- DNS wire format (test side)

/** A standard query (RD) for `name`, type A, class IN. */
export function dnsQuery(name, id = Math.floor(Math.random() * 65536)) {
  const labels = name.split(".").filter(Boolean).map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l, "ascii")]));
  return Buffer.concat([Buffer.of(id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0), ...labels, Buffer.of(0, 0, 1, 0, 1)]);
}

function skipName(buf, at) {
  for (;;) {
    const len = buf[at];
    if (len === undefined) throw new Error("truncated name");
    if ((len & 0xc0) === 0xc0) return at + 2;
    if (len === 0) return at + 1;
    at += 1 + len;
  }
}

/** `{ id, rcode, answers: [{type, ttl, rdata}] }` of a DNS response; throws on a malformed one. */
export function parseAnswer(buf) {
  if (buf.length < 12) throw new Error(`DNS message of ${buf.length} octets`);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) === 0) throw new Error("not a response (QR = 0)");
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  let at = 12;
  for (let i = 0; i < qd; i++) at = skipName(buf, at) + 4;
  const answers = [];
  for (let i = 0; i < an; i++) {
    at = skipName(buf, at);
    const type = buf.readUInt16BE(at);
    const ttl = buf.readUInt32BE(at + 4);
    const len = buf.readUInt16BE(at + 8);
    answers.push({ type, ttl, rdata: [...buf.subarray(at + 10, at + 10 + len)] });
    at += 10 + len;
  }
  return { id: buf.readUInt16BE(0), rcode: flags & 0xf, answers };
}

// ---------------------------------------------------------------- the fake upstream

/**
 * A local DoH upstream (RFC 8484 POST): every A query gets A 192.0.2.1 TTL 300, other types NODATA.
 * Counts exchanges per name and remembers whether any request carried `secret` (the device token).
 */
async function startUpstream() {
  const hits = { total: 0, byName: new Map(), sawSecret: false, bad: 0 };
  let secret = null;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (secret && (req.url.includes(secret) || JSON.stringify(req.headers).includes(secret) || body.includes(secret))) hits.sawSecret = true;
      if (req.method !== "POST" || req.headers["content-type"] !== "application/dns-message" || body.length < 17) {
        hits.bad++;
        res.writeHead(400).end();
        return;
      }
      const qEnd = skipName(body, 12) + 4;
      const labels = [];
      for (let at = 12; body[at] !== 0; at += 1 + body[at]) labels.push(body.subarray(at + 1, at + 1 + body[at]).toString("ascii"));
      const name = labels.join(".").toLowerCase();
      hits.total++;
      hits.byName.set(name, (hits.byName.get(name) ?? 0) + 1);
      const qtype = body.readUInt16BE(qEnd - 4);
      const answer = qtype === 1 ? Buffer.of(0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, ...UPSTREAM_IP) : Buffer.alloc(0);
      const header = Buffer.of(body[0], body[1], 0x81 | (body[2] & 0x01), 0x80, 0, 1, 0, qtype === 1 ? 1 : 0, 0, 0, 0, 0);
      const out = Buffer.concat([header, body.subarray(12, qEnd), answer]);
      res.writeHead(200, { "content-type": "application/dns-message", "content-length": out.length }).end(out);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/dns-query`,
    hits,
    watchFor: (s) => (secret = s),
    close: () => new Promise((r) => server.close(r)),
  };
}

// ---------------------------------------------------------------- HTTP with binary bodies

/** One request through the keep-alive agent; resolves `{ status, body: Buffer, ms }`. */
function exchange(base, path, { method = "GET", headers = {}, body, agent }) {
  const url = new URL(base);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, agent, timeout: 30_000, headers: { ...headers, ...(body ? { "content-length": body.length } : {}) } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

const sameIp = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Runs the gateway bench; resolves its results object (also written to bench/.results/gateway.json). */
export async function runGateway({
  rounds = Number(process.env.BENCH_GATEWAY_N ?? 300),
  warmup = Number(process.env.BENCH_WARMUP ?? 30),
  concurrency = Number(process.env.BENCH_GATEWAY_CONCURRENCY ?? 8),
  perCase = Number(process.env.BENCH_GATEWAY_REQUESTS ?? 800),
  totalRules = Number(process.env.BENCH_GATEWAY_RULES ?? 10_000),
  ruleRounds = Number(process.env.BENCH_GATEWAY_RULE_ROUNDS ?? 80),
  matchIterations = Number(process.env.BENCH_GATEWAY_MATCH_ITERATIONS ?? 20_000),
} = {}) {
  const log = logger("gateway");
  const started = performance.now();
  const upstream = await startUpstream();
  const server = await startServer({ label: "bench-gateway", log, vars: { GATEWAY_UPSTREAM: upstream.url } });
  const agent = keepAliveAgent(concurrency * 2 + 4);
  const tally = { "2xx": 0, "4xx": 0, "5xx": 0, network: 0 };
  try {
    const base = server.baseUrl;
    const auth = { authorization: `Bearer ${server.token}` };
    const json = async (method, path, body, expect = [200, 201], headers = auth) => {
      const res = await exchange(base, path, { method, agent, headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? Buffer.from(JSON.stringify(body)) : undefined });
      if (![expect].flat().includes(res.status)) throw new HttpError(`${method} ${path} → ${res.status}: ${res.body.toString().slice(0, 300)}`);
      return JSON.parse(res.body.toString());
    };

    // ---- Setup: a SCIM connection, a user in "risky", 10 rules through the API, a device.
    const rand = randomBytes(4).toString("hex");
    const conn = (await json("POST", "/api/v1/access/identity_providers", { name: `bench-gw-${rand}`, type: "okta", config: {}, scim_config: { enabled: true, user_deprovision: true } })).result;
    const scimBase = conn.scim_config.scim_base_url;
    const scimJson = async (p, body) => {
      const res = await exchange(base, `${new URL(scimBase).pathname}${p}`, { method: "POST", agent, headers: { authorization: `Bearer ${conn.scim_config.secret}`, "content-type": "application/scim+json" }, body: Buffer.from(JSON.stringify(body)) });
      if (res.status !== 201) throw new HttpError(`SCIM POST ${p} → ${res.status}: ${res.body.toString().slice(0, 300)}`);
      return JSON.parse(res.body.toString());
    };
    const email = `risky-${rand}@bench.example`;
    const user = await scimJson("/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: email, active: true, emails: [{ value: email, primary: true }] });
    await scimJson("/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "risky", members: [{ value: user.id }] });
    await scimJson("/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "contractors", members: [] });
    const tenRules = [
      { name: "block example.com for risky", action: "block", traffic: 'any(dns.domains[*] == "example.com")', identity: 'any(identity.groups.name[*] in {"risky"})' },
      { name: "block ad networks", action: "block", traffic: 'any(dns.domains[*] in {"ads.bench.test" "tracker.bench.test" "doubleclick.bench.test"})' },
      { name: "block one host", action: "block", traffic: 'dns.fqdn == "malware.bench.test"' },
      { name: "allow corp for everyone", action: "allow", traffic: 'any(dns.domains[*] == "corp.bench.test")' },
      { name: "override intranet", action: "override", traffic: 'dns.fqdn == "intranet.bench.test"', rule_settings: { override_ips: ["10.0.0.10"] } },
      { name: "block social for contractors", action: "block", traffic: 'any(dns.domains[*] in {"social.bench.test" "video.bench.test"})', identity: 'any(identity.groups.name[*] in {"contractors"})' },
      { name: "block one user", action: "block", traffic: 'any(dns.domains[*] == "games.bench.test")', identity: 'identity.email == "someone-else@bench.example"' },
      { name: "block gambling", action: "block", traffic: 'any(dns.domains[*] == "gambling.bench.test")', identity: 'not any(identity.groups.name[*] in {"contractors"})' },
      { name: "block two hosts", action: "block", traffic: 'dns.fqdn == "a.bad.bench.test" or dns.fqdn == "b.bad.bench.test"' },
      { name: "disabled rule", action: "block", enabled: false, traffic: 'any(dns.domains[*] == "bench.test")' },
    ];
    for (const r of tenRules) await json("POST", "/api/v1/gateway/rules", { filters: ["dns"], ...r });
    const device = (await json("POST", "/api/v1/gateway/devices", { user_id: user.id, name: "bench laptop" })).result;
    const token = device.token;
    upstream.watchFor(token);
    const dohPath = new URL(device.doh_url).pathname;
    log(`user ${email} in "risky" (SCIM), ${tenRules.length} rules, device ${device.id}; upstream ${upstream.url}`);

    // ---- Queries, each checking its answer.
    const doh = (path, name, expectIp, headers = {}) => async () => {
      let res;
      try {
        res = await exchange(base, path, { method: "POST", agent, headers: { "content-type": "application/dns-message", accept: "application/dns-message", ...headers }, body: dnsQuery(name) });
      } catch (e) {
        tally.network++;
        throw e;
      }
      tally[res.status >= 500 ? "5xx" : res.status >= 400 ? "4xx" : "2xx"]++;
      if (res.status !== 200) throw new HttpError(`POST ${path.replace(token, "<token>")} (${name}) → ${res.status}: ${res.body.toString().slice(0, 200)}`);
      const m = parseAnswer(res.body);
      const a = m.answers.find((x) => x.type === 1);
      if (m.rcode !== 0 || !a || !sameIp(a.rdata, expectIp)) throw new HttpError(`${name}: expected A ${expectIp.join(".")}, got rcode ${m.rcode} answers ${JSON.stringify(m.answers)}`);
      return res.ms;
    };
    const floorPath = "/__dev/bench/doh-floor";
    let seqNo = 0;
    const fresh = (tag) => `m${++seqNo}.${tag}.bench.test`;
    const cases = {
      policy_miss: () => doh(dohPath, fresh("policy"), UPSTREAM_IP)(),
      floor_miss: () => doh(floorPath, fresh("floor"), UPSTREAM_IP, auth)(),
      policy_hit: doh(dohPath, "cached.bench.test", UPSTREAM_IP),
      floor_hit: doh(floorPath, "cached.bench.test", UPSTREAM_IP, auth),
      blocked: doh(dohPath, "a.b.example.com", BLOCKED_IP),
    };

    // ---- Preflight: the device is valid and answers as configured; a forged token is refused.
    const listed = (await json("GET", `/api/v1/gateway/devices/${device.id}`)).result;
    if (listed.revoked_at !== null || listed.user_id !== user.id) throw new HttpError(`device not live: ${JSON.stringify(listed)}`);
    for (const run of Object.values(cases)) await run();
    await doh(dohPath, "example.com", BLOCKED_IP)();
    await doh(dohPath, "notexample.com", UPSTREAM_IP)();
    const forged = await exchange(base, `/dns-query/${"A".repeat(43)}`, { method: "POST", agent, headers: { "content-type": "application/dns-message" }, body: dnsQuery("x.bench.test") });
    if (forged.status !== 401) throw new HttpError(`a forged token answered ${forged.status}, expected 401`);

    // ---- 1. Sequential, interleaved (order alternating per round).
    const names = Object.keys(cases);
    const seqSamples = Object.fromEntries(names.map((n) => [n, []]));
    const missBefore = upstream.hits.total;
    let missQueries = 0;
    for (let i = 0; i < warmup + rounds; i++) {
      for (const n of i % 2 ? [...names].reverse() : names) {
        const t = await cases[n]();
        if (n.endsWith("_miss")) missQueries++;
        if (i >= warmup) seqSamples[n].push(t);
      }
    }
    const seq = Object.fromEntries(names.map((n) => [n, stats(seqSamples[n])]));
    const missExchanges = upstream.hits.total - missBefore;

    // ---- 2. Concurrent: C clients per case; cases in alternating blocks so drift hits all alike.
    const blocks = 4;
    const perBlock = Math.max(concurrency, Math.floor(perCase / blocks));
    const concNames = ["policy_miss", "floor_miss", "policy_hit", "floor_hit"];
    const conc = Object.fromEntries(concNames.map((k) => [k, { samples: [], ms: 0, n: 0 }]));
    for (let b = 0; b < blocks; b++) {
      for (const n of b % 2 ? [...concNames].reverse() : concNames) {
        let left = perBlock;
        const t0 = performance.now();
        await Promise.all(Array.from({ length: concurrency }, async () => {
          while (left-- > 0) conc[n].samples.push(await cases[n]());
        }));
        conc[n].ms += performance.now() - t0;
        conc[n].n += perBlock;
      }
    }
    const cc = Object.fromEntries(concNames.map((k) => [k, { rps: (conc[k].n / conc[k].ms) * 1000, latency: stats(conc[k].samples) }]));

    // ---- 3. 10 vs 10,000 rules.
    const bulk = totalRules - tenRules.length;
    const prefix = `bulk${rand}`;
    const [, seedMs] = await timedAsync(() => json("POST", "/__dev/bench/gateway-rules", { prefix, count: bulk, enabled: false }));
    log(`${bulk} bulk rules inserted in ${Math.round(seedMs)} ms (disabled)`);
    const setRules = async (big) => {
      const { result } = await json("POST", "/__dev/bench/gateway-rules", { prefix, enabled: big });
      if (result.changed !== bulk) throw new HttpError(`toggled ${result.changed} bulk rules, expected ${bulk}`);
      // The set in force matches as configured: a bulk rule's name is blocked only with the 10,000.
      const probe = await json("GET", `/__dev/bench/rule-match?name=x.r1.${prefix}.bench.test&group=risky&iterations=0`);
      if ((probe.rule?.name === `${prefix}-1`) !== big) throw new HttpError(`rules ${big ? totalRules : tenRules.length}: bulk probe matched ${JSON.stringify(probe.rule)}`);
      await doh(dohPath, `x.r1.${prefix}.bench.test`, big ? BLOCKED_IP : UPSTREAM_IP)();
    };
    const matchTime = async (name, iterations, expectRule) => {
      const res = await exchange(base, `/__dev/bench/rule-match?name=${name}&group=risky&iterations=${iterations}`, { agent, headers: auth });
      if (res.status !== 200) throw new HttpError(`rule-match → ${res.status}`);
      const body = JSON.parse(res.body.toString());
      if ((body.rule?.name ?? null) !== expectRule) throw new HttpError(`rule-match ${name}: ${JSON.stringify(body.rule)}, expected ${expectRule}`);
      return res.ms;
    };
    const ruleCases = {
      resolved: () => doh(dohPath, fresh("rules"), UPSTREAM_IP)(),
      blocked: cases.blocked,
      // matchRule alone: the same request with N iterations and with 0 (the difference is N matches).
      match_allowed: async () => ({ n: await matchTime(`q.allowed.bench.test`, matchIterations, null), z: await matchTime(`q.allowed.bench.test`, 0, null) }),
      match_blocked: async () => ({ n: await matchTime(`a.b.example.com`, matchIterations, tenRules[0].name), z: await matchTime(`a.b.example.com`, 0, tenRules[0].name) }),
    };
    const rs = { small: {}, big: {} };
    for (const size of Object.keys(rs)) for (const k of Object.keys(ruleCases)) rs[size][k] = [];
    const ruleBlocks = 4;
    for (let b = 0; b < ruleBlocks; b++) {
      const size = b % 2 ? "big" : "small";
      await setRules(size === "big");
      for (let i = 0; i < 10 + ruleRounds; i++) {
        for (const k of Object.keys(ruleCases)) {
          const r = await ruleCases[k]();
          if (i >= 10) rs[size][k].push(r);
        }
      }
    }
    const perMatchUs = (xs) => {
      const n = stats(xs.map((x) => x.n)).median;
      const z = stats(xs.map((x) => x.z)).median;
      return Math.max(0, ((n - z) / matchIterations) * 1000);
    };
    const rulesOut = {};
    for (const k of ["resolved", "blocked"]) {
      const small = stats(rs.small[k]);
      const big = stats(rs.big[k]);
      rulesOut[k] = { small: roundStats(small), big: roundStats(big), growth: round3(big.median / small.median) };
    }
    for (const k of ["match_allowed", "match_blocked"]) {
      const small = perMatchUs(rs.small[k]);
      const big = perMatchUs(rs.big[k]);
      rulesOut[k] = { small_us: round3(small), big_us: round3(big), growth: round3(big / small) };
    }
    const worstE2E = Math.max(rulesOut.resolved.growth, rulesOut.blocked.growth);
    const worstMatch = Math.max(rulesOut.match_allowed.growth, rulesOut.match_blocked.growth);

    // ---- Gates.
    const gates = [];
    if (tally["5xx"] || tally.network) gates.push(`${tally["5xx"]} 5xx and ${tally.network} network errors`);
    if (missExchanges !== missQueries) gates.push(`upstream saw ${missExchanges} exchanges for ${missQueries} miss queries`);
    if (upstream.hits.sawSecret) gates.push("the upstream saw the device token");
    if (upstream.hits.bad) gates.push(`${upstream.hits.bad} malformed upstream requests`);

    const verdict = (x, t) => (x <= t ? "PASS" : "MISS");
    const results = {
      machine: machine(),
      config: { rounds, warmup, concurrency, perCase: perBlock * blocks, totalRules, ruleRounds, ruleBlocks, matchIterations },
      sequential: {
        stats: Object.fromEntries(names.map((n) => [n, roundStats(seq[n])])),
        miss_ratio: round3(seq.policy_miss.median / seq.floor_miss.median),
        hit_ratio: round3(seq.policy_hit.median / seq.floor_hit.median),
        blocked_vs_floor_hit: round3(seq.blocked.median / seq.floor_hit.median),
        target: TARGET,
      },
      concurrent: {
        concurrency,
        cases: Object.fromEntries(concNames.map((k) => [k, { rps: round3(cc[k].rps), latency: roundStats(cc[k].latency) }])),
        miss_ratio: round3(cc.policy_miss.latency.median / cc.floor_miss.latency.median),
        hit_ratio: round3(cc.policy_hit.latency.median / cc.floor_hit.latency.median),
        target: TARGET,
      },
      rules: { ...rulesOut, e2e_growth: round3(worstE2E), match_growth: round3(worstMatch), target: RULES_TARGET, bulk_seed_ms: Math.round(seedMs) },
      upstream: { exchanges: upstream.hits.total, miss_queries: missQueries, miss_exchanges: missExchanges, saw_token: upstream.hits.sawSecret },
      tally,
      gates,
    };
    results.sequential.verdict = verdict(Math.max(results.sequential.miss_ratio, results.sequential.hit_ratio), TARGET);
    results.concurrent.verdict = verdict(Math.max(results.concurrent.miss_ratio, results.concurrent.hit_ratio), TARGET);
    results.rules.e2e_verdict = verdict(worstE2E, RULES_TARGET);
    results.rules.match_verdict = verdict(worstMatch, RULES_TARGET);

    console.log(`\nGateway benchmark — sequential keep-alive, ${rounds} interleaved rounds (+${warmup} warm-up); then ${concurrency} concurrent clients, ${perBlock * blocks} queries per case`);
    console.log("floor = POST /__dev/bench/doh-floor: the same Worker, same answer cache and upstream, no token/session/rules\n");
    const r = (a, b) => ratio(a.median / b.median);
    printTable(
      ["case", "median ms", "p95 ms", "ratio to floor", "target", "result"],
      [
        ["(b) floor, cache miss (1 upstream exchange)", ms(seq.floor_miss.median), ms(seq.floor_miss.p95), "1.00×", "", ""],
        ["(a) device + policy, cache miss", ms(seq.policy_miss.median), ms(seq.policy_miss.p95), r(seq.policy_miss, seq.floor_miss), `≤ ${TARGET}×`, verdict(seq.policy_miss.median / seq.floor_miss.median, TARGET)],
        ["(b) floor, cache hit", ms(seq.floor_hit.median), ms(seq.floor_hit.p95), "1.00×", "", ""],
        ["(a) device + policy, cache hit", ms(seq.policy_hit.median), ms(seq.policy_hit.p95), r(seq.policy_hit, seq.floor_hit), `≤ ${TARGET}×`, verdict(seq.policy_hit.median / seq.floor_hit.median, TARGET)],
        ["(a) blocked by policy (vs floor hit)", ms(seq.blocked.median), ms(seq.blocked.p95), r(seq.blocked, seq.floor_hit), "", "info"],
      ],
    );
    console.log(`\nconcurrent (c=${concurrency})`);
    const lr = (a, b) => ratio(cc[a].latency.median / cc[b].latency.median);
    printTable(
      ["case", "req/s", "median ms", "p95 ms", "latency ratio", "target", "result"],
      [
        ["(b) floor, miss", cc.floor_miss.rps.toFixed(1), ms(cc.floor_miss.latency.median), ms(cc.floor_miss.latency.p95), "1.00×", "", ""],
        ["(a) policy, miss", cc.policy_miss.rps.toFixed(1), ms(cc.policy_miss.latency.median), ms(cc.policy_miss.latency.p95), lr("policy_miss", "floor_miss"), `≤ ${TARGET}×`, verdict(results.concurrent.miss_ratio, TARGET)],
        ["(b) floor, hit", cc.floor_hit.rps.toFixed(1), ms(cc.floor_hit.latency.median), ms(cc.floor_hit.latency.p95), "1.00×", "", ""],
        ["(a) policy, hit", cc.policy_hit.rps.toFixed(1), ms(cc.policy_hit.latency.median), ms(cc.policy_hit.latency.p95), lr("policy_hit", "floor_hit"), `≤ ${TARGET}×`, verdict(results.concurrent.hit_ratio, TARGET)],
      ],
    );
    console.log(`\nrules: ${tenRules.length} vs ${totalRules} (${ruleBlocks} alternating blocks × ${ruleRounds} rounds; matchRule alone = (${matchIterations} iterations − 0) / ${matchIterations})`);
    printTable(
      ["case", `${tenRules.length} rules`, `${totalRules} rules`, "growth", "target", "result"],
      [
        ["DoH query, resolved (cache miss), median ms", ms(rulesOut.resolved.small.median), ms(rulesOut.resolved.big.median), ratio(rulesOut.resolved.growth), `≤ ${RULES_TARGET}×`, verdict(rulesOut.resolved.growth, RULES_TARGET)],
        ["DoH query, blocked, median ms", ms(rulesOut.blocked.small.median), ms(rulesOut.blocked.big.median), ratio(rulesOut.blocked.growth), `≤ ${RULES_TARGET}×`, verdict(rulesOut.blocked.growth, RULES_TARGET)],
        ["matchRule alone, no match (default allow), µs", rulesOut.match_allowed.small_us.toFixed(3), rulesOut.match_allowed.big_us.toFixed(3), ratio(rulesOut.match_allowed.growth), `≤ ${RULES_TARGET}×`, verdict(rulesOut.match_allowed.growth, RULES_TARGET)],
        ["matchRule alone, seed rule matches, µs", rulesOut.match_blocked.small_us.toFixed(3), rulesOut.match_blocked.big_us.toFixed(3), ratio(rulesOut.match_blocked.growth), `≤ ${RULES_TARGET}×`, verdict(rulesOut.match_blocked.growth, RULES_TARGET)],
      ],
    );
    console.log(`  max ms with ${totalRules} rules (includes the 5 s RuleSet reload from D1): resolved ${ms(rulesOut.resolved.big.max)}, blocked ${ms(rulesOut.blocked.big.max)}`);
    results.totalMs = Math.round(performance.now() - started);
    console.log(`\nupstream: ${upstream.hits.total} exchanges (${missExchanges} for ${missQueries} measured miss queries), token seen: ${upstream.hits.sawSecret}; answers ${JSON.stringify(tally)}; total ${Math.round(results.totalMs / 1000)} s`);
    console.log(`results: ${writeResults("gateway", results)}`);
    if (gates.length) {
      const err = new Error(`gateway bench self-checks failed: ${gates.join("; ")}`);
      err.results = results;
      throw err;
    }
    return results;
  } finally {
    agent.destroy();
    await server.stop();
    await upstream.close();
    log("wrangler dev and the fake upstream stopped");
  }
}

async function timedAsync(fn) {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runGateway().then(
    () => process.exit(0),
    (err) => {
      console.error(`bench gateway: ${err.stack ?? err}`);
      process.exit(1);
    },
  );
}
