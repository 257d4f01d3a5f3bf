// The few HTML pages Access shows a person (refusals, the IdP chooser, sign-out). Every value is
// escaped; the pages load nothing and may not be framed.

import { escapeHtml } from "../http/html";

/** Headers for every Access page: no caching (they reflect one person's state), no framing, no referrer. */
export const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
} as const;

/** A page with a title, one message and optional links (`[label, href]`). */
export function page(status: number, title: string, message: string, links: [string, string][] = [], headers: HeadersInit = {}): Response {
  const items = links.map(([label, href]) => `<li><a href="${escapeHtml(href)}">${escapeHtml(label)}</a></li>`).join("");
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${items ? `<ul>${items}</ul>` : ""}</body></html>`;
  const h = new Headers(PAGE_HEADERS);
  for (const [k, v] of new Headers(headers)) h.append(k, v);
  return new Response(body, { status, headers: h });
}
