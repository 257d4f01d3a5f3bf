// Helpers of the browser test (scripts/browser-test.mjs): a sequential step runner, a local fake DoH
// upstream for the Worker's resolver, DNS-over-HTTPS queries from Node, and small HTTP helpers.
// Node built-ins only (plus the DNS wire helpers bench/gateway.mjs already exports).

import http from "node:http";
import { dnsQuery, parseAnswer } from "../../bench/gateway.mjs";

export { dnsQuery, parseAnswer };

/** Thrown by `check` when the scenario sees something it does not expect. */
export class Failure extends Error {}

/** Throws a Failure with `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Failure(message);
}

/**
 * A sequential scenario runner: `await run("name", fn)` runs one step, prints `ok`/`FAIL` with its
 * duration, and rethrows the first failure (later steps are not run). `failed` names the failed step,
 * `current` the step running now (a timeout can interrupt it).
 */
export function stepRunner({ log = console.log } = {}) {
  const runner = {
    failed: null,
    current: null,
    steps: [],
    async run(name, fn) {
      const t0 = performance.now();
      runner.current = name;
      log(`\n── ${name}`);
      try {
        const out = await fn();
        const ms = Math.round(performance.now() - t0);
        runner.steps.push({ name, ok: true, ms });
        runner.current = null;
        log(`   ok  ${name} (${(ms / 1000).toFixed(1)} s)`);
        return out;
      } catch (err) {
        const ms = Math.round(performance.now() - t0);
        runner.steps.push({ name, ok: false, ms });
        runner.failed = name;
        log(`   FAIL ${name} (${(ms / 1000).toFixed(1)} s)`);
        throw err;
      }
    },
  };
  return runner;
}

/** The A answer every upstream exchange gets (RFC 5737 TEST-NET-1: never a real host). */
export const UPSTREAM_IP = "192.0.2.1";

/**
 * A local DoH upstream (RFC 8484 POST over plain HTTP on 127.0.0.1): every A query gets A 192.0.2.1
 * TTL 300, other types NODATA. Records the names it was asked, so the test can tell "resolved via the
 * upstream" from "answered by policy without asking it".
 */
export async function startFakeUpstream() {
  const asked = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.method !== "POST" || req.headers["content-type"] !== "application/dns-message" || body.length < 17) {
        res.writeHead(400).end();
        return;
      }
      const labels = [];
      let at = 12;
      for (; body[at] !== 0 && at < body.length; at += 1 + body[at]) labels.push(body.subarray(at + 1, at + 1 + body[at]).toString("ascii"));
      const qEnd = at + 5;
      asked.push(labels.join(".").toLowerCase());
      const qtype = body.readUInt16BE(qEnd - 4);
      const answer = qtype === 1 ? Buffer.of(0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, ...UPSTREAM_IP.split(".").map(Number)) : Buffer.alloc(0);
      const header = Buffer.of(body[0], body[1], 0x81 | (body[2] & 0x01), 0x80, 0, 1, 0, qtype === 1 ? 1 : 0, 0, 0, 0, 0);
      const out = Buffer.concat([header, body.subarray(12, qEnd), answer]);
      res.writeHead(200, { "content-type": "application/dns-message", "content-length": out.length }).end(out);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/dns-query`,
    asked,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** One DoH query (RFC 8484 POST) for `name` type A; resolves `{ status, rcode, a: "x.x.x.x" | null }`. */
export async function dohQuery(dohUrl, name) {
  const res = await fetch(dohUrl, {
    method: "POST",
    headers: { "content-type": "application/dns-message", accept: "application/dns-message" },
    body: dnsQuery(name),
    signal: AbortSignal.timeout(30_000),
  });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return { status: res.status, rcode: null, a: null, text: body.toString("utf8").slice(0, 200) };
  const m = parseAnswer(body);
  const a = m.answers.find((x) => x.type === 1);
  return { status: res.status, rcode: m.rcode, a: a ? a.rdata.join(".") : null };
}

/** A JSON request; throws a Failure unless the status is `expect` (default: any 2xx). */
export async function jsonRequest(url, { method = "GET", headers = {}, body, expect } = {}) {
  const res = await fetch(url, {
    method,
    headers: { accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const ok = expect === undefined ? res.ok : res.status === expect;
  if (!ok) throw new Failure(`${method} ${url} → ${res.status} (expected ${expect ?? "2xx"}): ${text.slice(0, 400)}`);
  return text ? JSON.parse(text) : null;
}
