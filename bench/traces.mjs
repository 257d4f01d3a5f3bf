// Best-effort "where did the time go": `wrangler dev` with `[observability] enabled = true` keeps
// a local trace store (SQLite, under <persist-to>/v3/observability/) with one span per request,
// D1 query and Durable Object call. Read after a bench, it says how many D1 round trips each
// route made, how long they took and how many rows SQLite read: the usual explanation of a
// ratio. The store's layout is wrangler-internal (seen with 4.156): when it is missing or
// unreadable the section is skipped, never an error.

import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { printTable } from "./lib.mjs";

/** The trace store's SQLite file under a `--persist-to` dir, or undefined. */
function traceStore(persistTo) {
  const dir = path.join(persistTo, "v3", "observability", "miniflare-wobs-trace-store");
  if (!existsSync(dir)) return undefined;
  const file = readdirSync(dir).find((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  return file && path.join(dir, file);
}

/** Span attributes: tokens `(length << 4) | type`, length 12/13/14 → 1/2/4 length bytes; type 0xc opens a container. */
function decodeAttributes(buf) {
  const tokens = [];
  let i = 0;
  while (i < buf.length) {
    const b = buf[i++];
    let len = b >> 4;
    if (len === 12) len = buf[i++];
    else if (len === 13) (len = (buf[i] << 8) | buf[i + 1]), (i += 2);
    else if (len === 14) (len = buf[i] * 2 ** 24 + (buf[i + 1] << 16) + (buf[i + 2] << 8) + buf[i + 3]), (i += 4);
    else if (len === 15) throw new Error("unknown attribute encoding");
    if ((b & 0xf) === 0xc) continue;
    tokens.push(Buffer.from(buf.subarray(i, i + len)).toString("utf8"));
    i += len;
  }
  const out = {};
  for (let k = 0; k + 1 < tokens.length; k += 2) out[tokens[k]] = tokens[k + 1];
  return out;
}

/**
 * Per request route (method + path with ids replaced + the query parameters that change the
 * work): requests, D1 calls per request, D1 span ms per request (round trip included), SQL ms
 * per request (inside SQLite), rows read per request, Durable Object RPCs per request.
 * `classify(url, method)` names the route; requests it returns undefined for are left out.
 */
export async function routeCosts(persistTo, classify) {
  const file = traceStore(persistTo);
  if (!file) return { skipped: "no local trace store" };
  let DatabaseSync;
  const emit = process.emitWarning;
  try {
    process.emitWarning = () => {}; // node:sqlite is "experimental" on Node 22
    ({ DatabaseSync } = await import("node:sqlite"));
  } catch {
    return { skipped: "node:sqlite unavailable (Node ≥ 22.5 needed)" };
  } finally {
    process.emitWarning = emit;
  }
  try {
    const db = new DatabaseSync(file, { readOnly: true });
    const spans = db.prepare("SELECT trace_id, parent_id, name, kind, duration_ms, attributes FROM spans").all();
    db.close();
    const byTrace = new Map();
    for (const s of spans) {
      const list = byTrace.get(s.trace_id) ?? [];
      list.push(s);
      byTrace.set(s.trace_id, list);
    }
    const routes = new Map();
    for (const list of byTrace.values()) {
      const root = list.find((s) => s.parent_id === null && s.kind === "http");
      if (!root) continue;
      const attrs = decodeAttributes(new Uint8Array(root.attributes));
      const url = attrs["url.full"];
      const route = url && classify(url, attrs["http.request.method"] ?? root.name);
      if (!route) continue;
      const r = routes.get(route) ?? { route, requests: 0, d1Calls: 0, d1Ms: 0, sqlMs: 0, rowsRead: 0, doCalls: 0 };
      r.requests++;
      for (const s of list) {
        if (s.kind === "d1") {
          const a = decodeAttributes(new Uint8Array(s.attributes));
          r.d1Calls++;
          r.d1Ms += s.duration_ms ?? 0;
          r.sqlMs += Number(a["cloudflare.d1.response.sql_duration_ms"] ?? 0);
          r.rowsRead += Number(a["cloudflare.d1.response.rows_read"] ?? 0);
        } else if (s.name === "durable_object_subrequest") r.doCalls++;
      }
      routes.set(route, r);
    }
    const per = (x, n) => Math.round((x / n) * 100) / 100;
    return {
      routes: [...routes.values()].map((r) => ({
        route: r.route,
        requests: r.requests,
        d1_calls: per(r.d1Calls, r.requests),
        d1_ms: per(r.d1Ms, r.requests),
        sql_ms: per(r.sqlMs, r.requests),
        rows_read: Math.round(r.rowsRead / r.requests),
        do_calls: per(r.doCalls, r.requests),
      })),
    };
  } catch (err) {
    return { skipped: `trace store unreadable: ${err.message}` };
  }
}

/** A route name for a request URL: ids replaced, SCIM base shortened, the work-changing query parameters kept. */
export function routeOf(url, method) {
  const u = new URL(url);
  if (u.pathname === "/healthz") return undefined;
  const p = u.pathname
    .replace(/^\/populations\/[^/]+\/scim\/v2/, "SCIM")
    .replace(/bench-u-\d+/, ":id")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, ":id");
  const q = u.searchParams;
  const parts = [`${method} ${p}`];
  const filter = q.get("filter");
  if (filter) parts.push(`filter=${filter.replace(/"[^"]*"/g, '"…"')}`);
  const start = q.get("startIndex");
  if (start) parts.push(`startIndex=${start === "1" ? "1" : "N"}`);
  for (const k of ["count", "attributes", "excludedAttributes"]) if (q.has(k)) parts.push(`${k}=${q.get(k)}`);
  return parts.join(" ");
}

/** Prints the per-route D1 figures of the local trace store (or why they are missing). */
export function printRouteCosts(traces, minRequests = 20) {
  if (traces.skipped) {
    console.log(`\nper-route D1 work: skipped (${traces.skipped})`);
    return;
  }
  console.log("\nper-route work from wrangler dev's local trace store (whole run incl. warm-up; D1 calls include the provisioning-log insert made after the response; best effort: spans can be missing under concurrent load)");
  printTable(
    ["route", "requests", "D1 calls/req", "D1 ms/req", "SQL ms/req", "rows read/req", "DO calls/req"],
    traces.routes.filter((r) => r.requests >= minRequests).map((r) => [r.route, r.requests, r.d1_calls.toFixed(2), r.d1_ms.toFixed(2), r.sql_ms.toFixed(2), r.rows_read, r.do_calls.toFixed(2)]),
  );
}
