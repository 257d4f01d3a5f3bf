// The HTML reference of the admin API (`GET /api/v1/docs`), rendered on the server from the OpenAPI
// document: operations grouped by tag, with their parameters and body schemas. No CDN, no script.
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

type Json = Record<string, unknown>;
type Fragment = HtmlEscapedString | Promise<HtmlEscapedString>;

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#1d1d1f}
h2{border-bottom:2px solid #1d2b3a;margin-top:2rem}section.op{border:1px solid #e3e3e3;border-radius:4px;margin:.8rem 0;padding:.5rem .8rem}
.m{font:bold 13px ui-monospace,monospace;text-transform:uppercase;padding:.1rem .4rem;border-radius:3px;background:#e8f4ff}
code,pre{font-family:ui-monospace,monospace}pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
table{border-collapse:collapse}th,td{text-align:left;padding:.2rem .6rem;border-bottom:1px solid #eee;vertical-align:top}.muted{color:#666}`;

/** A short type of a JSON Schema for the parameter table (`integer ≥ 1, default 1`). */
function describeType(s: Json): string {
  const parts: string[] = [];
  if (Array.isArray(s.enum)) parts.push(s.enum.map((v) => JSON.stringify(v)).join(" | "));
  else if (s.type === "array" && s.items && typeof s.items === "object") parts.push(`array of ${describeType(s.items as Json)}`);
  else if (typeof s.type === "string") parts.push(s.format ? `${s.type} (${String(s.format)})` : s.type);
  else if (Array.isArray(s.anyOf)) parts.push((s.anyOf as Json[]).map(describeType).join(" | "));
  else parts.push("any");
  if (typeof s.minimum === "number") parts.push(`≥ ${s.minimum}`);
  if (typeof s.maximum === "number" && s.maximum < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${s.maximum}`);
  if (s.default !== undefined) parts.push(`default ${JSON.stringify(s.default)}`);
  return parts.join(", ");
}

function parameters(params: Json[]): Fragment {
  if (params.length === 0) return html``;
  return html`<table><thead><tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr></thead><tbody>
${params.map((p) => html`<tr><td><code>${String(p.name)}</code></td><td>${String(p.in)}</td><td>${describeType(p.schema as Json)}</td><td>${p.required ? "yes" : "no"}</td><td>${String(p.description ?? "")}</td></tr>`)}
</tbody></table>`;
}

function operation(path: string, method: string, op: Json): Fragment {
  const body = ((op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined)?.["application/json"]?.schema;
  const ok = ((op.responses as Record<string, Json>)["200"]?.description as string) ?? "";
  const open = Array.isArray(op.security) && op.security.length === 0;
  return html`<section class="op" id="${String(op.operationId)}">
<p><span class="m">${method}</span> <code>/api/v1${path}</code> ${open ? html`<span class="muted">(no token)</span>` : ""}</p>
<p>${String(op.summary)}</p>
${parameters((op.parameters ?? []) as Json[])}
${body ? html`<details><summary>Request body (JSON Schema)</summary><pre>${JSON.stringify(body, null, 2)}</pre></details>` : ""}
<p class="muted">200: ${ok}</p>
</section>`;
}

/** The reference page of an OpenAPI 3.1 document. */
export function renderReference(doc: Json): Fragment {
  const info = doc.info as Json;
  const byTag = new Map<string, Fragment[]>();
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = ((op.tags as string[]) ?? ["Other"])[0]!;
      (byTag.get(tag) ?? byTag.set(tag, []).get(tag)!).push(operation(path, method, op));
    }
  }
  const rule = (doc.components as Json).schemas as Json;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${String(info.title)}: API reference</title><style>${raw(STYLE)}</style></head>
<body><header><h1>${String(info.title)}</h1><p>${String(info.description)}</p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI ${String(doc.openapi)}).</p>
<nav aria-label="Sections"><ul>${[...byTag.keys()].map((t) => html`<li><a href="#${slug(t)}">${t}</a></li>`)}</ul></nav></header>
<main>${[...byTag.entries()].map(([tag, ops]) => html`<h2 id="${slug(tag)}">${tag}</h2>${ops}`)}
<h2 id="rule">Access rule</h2><pre>${JSON.stringify(rule.Rule, null, 2)}</pre></main></body></html>`;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-");
