// Access benchmark (issue 8): what a protected request costs over the same request with no identity.
//
//   (a) proxied   GET http://<app host>/bench with a valid session (CF_Authorization cookie): host →
//                 app lookup (D1) → JWT verification → the user's Durable Object check → origin
//   (b) bypass    the same request through a bypass app (policy {decision:"bypass", include
//                 [{everyone:{}}]}) on another host, same origin: host → app lookup → origin. The FLOOR.
//   (c) jwt       GET /__dev/bench/jwt-verify?token=…&aud=… on the team host: JWT verification alone
//                 (admin-token check included; no D1, no Durable Object, no origin)
//
// Both apps forward to a local origin (127.0.0.1, started here) that verifies Cf-Access-Jwt-Assertion
// with /cdn-cgi/access/certs (remembering verified tokens, so its own cost stays flat) and answers
// `{path, email}`. The session comes from a real login through the development IdP
// (scripts/lib/access-client.mjs); requests reach app hosts by Host header on the dev server.
//
// Two phases, both on one `wrangler dev`:
//   1. sequential, interleaved (each round runs a, b, c, order alternating), after a warm-up:
//      medians and p95s; target: proxied median ≤ 2× the bypass median;
//   2. concurrent: C clients per case, cases in alternating blocks: req/s and latency percentiles.
// Self-checks that fail the bench (not a MISS): the session must proxy 200 as the user before
// measuring; every measured response must be (a) 200 naming the user, (b) 200 with no identity,
// (c) 200 `{ok:true}` — a redirect to login, a 5xx or anything else throws.
//
//   npm run bench -- access        (or: node bench/access.mjs)
//   env: BENCH_ACCESS_N (sequential rounds, default 400), BENCH_WARMUP (default 30),
//        BENCH_ACCESS_CONCURRENCY (default 8), BENCH_ACCESS_REQUESTS (per case in phase 2, default 1200)

import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { keepAliveAgent, loginThroughDevIdp, send, startVerifyingOrigin } from "../scripts/lib/access-client.mjs";
import { HttpError, interleave, logger, machine, ms, printTable, ratio, round3, roundStats, startServer, stats, writeResults } from "./lib.mjs";

const TARGET = 2;

/** Runs the access bench; resolves its results object (also written to bench/.results/access.json). */
export async function runAccess({
  rounds = Number(process.env.BENCH_ACCESS_N ?? 400),
  warmup = Number(process.env.BENCH_WARMUP ?? 30),
  concurrency = Number(process.env.BENCH_ACCESS_CONCURRENCY ?? 8),
  perCase = Number(process.env.BENCH_ACCESS_REQUESTS ?? 1200),
} = {}) {
  const log = logger("access");
  const started = performance.now();
  const server = await startServer({ label: "bench-access", log });
  const agent = keepAliveAgent(concurrency * 2 + 4);
  let origin;
  try {
    const base = server.baseUrl;
    origin = await startVerifyingOrigin({ baseUrl: base });
    const adminCall = async (method, p, body, expect = 200) => {
      const res = await send(base, `${base}${p}`, {
        method,
        agent,
        headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status !== expect) throw new HttpError(`${method} ${p} → ${res.status} (expected ${expect}): ${res.text.slice(0, 300)}`);
      return res.json();
    };

    // ---- Setup: a dev-IdP connection with SCIM, one user, a protected app and a bypass app.
    const rand = randomBytes(4).toString("hex");
    const conn = (await adminCall("POST", "/api/v1/access/identity_providers", {
      name: `bench-access-${rand}`,
      type: "oidc",
      config: { client_id: `bench-${rand}`, client_secret: randomBytes(16).toString("hex"), issuer_url: `${base}/__dev/idp` },
      scim_config: { enabled: true, user_deprovision: true },
    })).result;
    const email = `bench-${rand}@bench.example`;
    const scim = await send(base, `${conn.scim_config.scim_base_url}/Users`, {
      method: "POST",
      agent,
      headers: { authorization: `Bearer ${conn.scim_config.secret}`, "content-type": "application/scim+json" },
      body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: email, active: true, emails: [{ value: email, primary: true }] }),
    });
    if (scim.status !== 201) throw new HttpError(`SCIM POST /Users → ${scim.status}: ${scim.text.slice(0, 300)}`);
    const protectedHost = `bench-${rand}.example.test`;
    const bypassHost = `bench-bypass-${rand}.example.test`;
    const app = (await adminCall("POST", "/api/v1/access/apps", { name: "Bench protected", domain: protectedHost, type: "self_hosted", allowed_idps: [conn.id], session_duration: "24h", origin: origin.url })).result;
    await adminCall("POST", `/api/v1/access/apps/${app.id}/policies`, { name: "bench user", decision: "allow", include: [{ email: { email } }] });
    const bypass = (await adminCall("POST", "/api/v1/access/apps", { name: "Bench bypass", domain: bypassHost, type: "self_hosted", allowed_idps: [conn.id], session_duration: "24h", origin: origin.url })).result;
    await adminCall("POST", `/api/v1/access/apps/${bypass.id}/policies`, { name: "everyone", decision: "bypass", include: [{ everyone: {} }] });
    origin.audiences.add(app.aud);

    const login = await loginThroughDevIdp({ baseUrl: base, appHost: protectedHost, path: "/bench", email, agent });
    log(`logged in as ${email} (session ${login.claims.sid}, app token from ${login.via})`);

    // ---- The three requests, each checking its own answer.
    const cookie = `CF_Authorization=${login.token}`;
    const jwtPath = `/__dev/bench/jwt-verify?token=${encodeURIComponent(login.token)}&aud=${encodeURIComponent(app.aud)}`;
    const timedOk = async (url, headers, accept) => {
      const t0 = performance.now();
      const res = await send(base, url, { agent, headers });
      const elapsed = performance.now() - t0;
      let body;
      try {
        body = JSON.parse(res.text);
      } catch {
        body = undefined;
      }
      if (res.status !== 200 || !accept(body)) throw new HttpError(`GET ${url} → ${res.status}${res.location ? ` → ${res.location}` : ""}: ${res.text.slice(0, 200)}`);
      return elapsed;
    };
    const cases = {
      proxied: () => timedOk(`http://${protectedHost}/bench`, { cookie }, (b) => b?.email === email),
      bypass: () => timedOk(`http://${bypassHost}/bench`, {}, (b) => b && b.email === null && b.path === "/bench"),
      jwt: () => timedOk(`${base}${jwtPath}`, { authorization: `Bearer ${server.token}` }, (b) => b?.ok === true && b.sub === login.claims.sub),
    };
    // Preflight: the session is valid (a proxied 200 as the user) before anything is measured.
    for (const run of Object.values(cases)) await run();

    // ---- 1. Sequential, interleaved.
    const seq = await interleave(
      Object.entries(cases).map(([name, run]) => ({ name, run })),
      { rounds, warmup },
    );
    const s = Object.fromEntries(Object.keys(cases).map((k) => [k, stats(seq.samples[k])]));
    const seqRatio = s.proxied.median / s.bypass.median;
    const verdict = seqRatio <= TARGET ? "PASS" : "MISS";

    // ---- 2. Concurrent: C clients per case; cases in alternating blocks so drift hits all alike.
    const blocks = 4;
    const perBlock = Math.max(concurrency, Math.floor(perCase / blocks));
    const conc = Object.fromEntries(Object.keys(cases).map((k) => [k, { samples: [], ms: 0, n: 0 }]));
    for (let b = 0; b < blocks; b++) {
      const order = b % 2 === 0 ? Object.keys(cases) : Object.keys(cases).reverse();
      for (const name of order) {
        let left = perBlock;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (left-- > 0) conc[name].samples.push(await cases[name]());
          }),
        );
        conc[name].ms += performance.now() - t0;
        conc[name].n += perBlock;
      }
    }
    const c = Object.fromEntries(Object.entries(conc).map(([k, v]) => [k, { rps: (v.n / v.ms) * 1000, latency: stats(v.samples) }]));
    const concRatio = c.proxied.latency.median / c.bypass.latency.median;
    const rpsRatio = c.bypass.rps / c.proxied.rps;
    const concVerdict = concRatio <= TARGET ? "PASS" : "MISS";

    const results = {
      machine: machine(),
      config: { rounds, warmup, concurrency, perCase: perBlock * blocks },
      sequential: {
        rounds: seq.rounds,
        truncated: seq.truncated,
        stats: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, roundStats(v)])),
        proxied_vs_bypass: round3(seqRatio),
        jwt_vs_bypass: round3(s.jwt.median / s.bypass.median),
        overhead_ms: round3(s.proxied.median - s.bypass.median),
        target: TARGET,
        verdict,
      },
      concurrent: {
        concurrency,
        cases: Object.fromEntries(Object.entries(c).map(([k, v]) => [k, { rps: round3(v.rps), latency: roundStats(v.latency) }])),
        proxied_vs_bypass_latency: round3(concRatio),
        bypass_vs_proxied_rps: round3(rpsRatio),
        target: TARGET,
        verdict: concVerdict,
      },
      origin_hits: { ...origin.hits },
    };

    console.log(`\nAccess benchmark — sequential keep-alive, ${seq.rounds} interleaved rounds (+${warmup} warm-up); then ${concurrency} concurrent clients, ${perBlock * blocks} requests per case`);
    console.log("floor = the same request through a bypass app (host → app lookup → origin, no identity)\n");
    printTable(
      ["case", "median ms", "p95 ms", "ratio to floor", "target", "result"],
      [
        ["(b) bypass app (floor)", ms(s.bypass.median), ms(s.bypass.p95), "1.00×", "", ""],
        ["(a) proxied, valid session (JWT + DO check)", ms(s.proxied.median), ms(s.proxied.p95), ratio(seqRatio), `≤ ${TARGET}× floor`, verdict],
        ["(c) JWT verification alone (dev route)", ms(s.jwt.median), ms(s.jwt.p95), ratio(s.jwt.median / s.bypass.median), "", ""],
      ],
    );
    console.log(`\nconcurrent (c=${concurrency})`);
    printTable(
      ["case", "req/s", "median ms", "p95 ms", "latency ratio to floor", "target", "result"],
      [
        ["(b) bypass app (floor)", c.bypass.rps.toFixed(1), ms(c.bypass.latency.median), ms(c.bypass.latency.p95), "1.00×", "", ""],
        ["(a) proxied, valid session", c.proxied.rps.toFixed(1), ms(c.proxied.latency.median), ms(c.proxied.latency.p95), ratio(concRatio), `≤ ${TARGET}× floor`, concVerdict],
        ["(c) JWT verification alone", c.jwt.rps.toFixed(1), ms(c.jwt.latency.median), ms(c.jwt.latency.p95), ratio(c.jwt.latency.median / c.bypass.latency.median), "", ""],
      ],
    );
    results.totalMs = Math.round(performance.now() - started);
    console.log(`\norigin: ${origin.hits.verified} verified assertions, ${origin.hits.bypass} without identity, ${origin.hits.refused} refused; total ${Math.round(results.totalMs / 1000)} s`);
    console.log(`results: ${writeResults("access", results)}`);
    return results;
  } finally {
    agent.destroy();
    await origin?.close();
    await server.stop();
    log("wrangler dev stopped");
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runAccess().then(
    () => process.exit(0),
    (err) => {
      console.error(`bench access: ${err.stack ?? err}`);
      process.exit(1);
    },
  );
}
