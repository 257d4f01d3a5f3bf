// The team host's self-service portal (`/portal`), behind Access login (an org session): a signed-in
// person enrolls a Gateway device and gets its DoH URL and an Apple DNS profile. Every state-changing
// form carries a CSRF token bound to the org session (and the org cookie is SameSite=Lax, so a
// cross-site POST does not carry it at all).
import { Hono, type Context } from "hono";
import type { AppEnv } from "../http/app-env";
import { escapeHtml as esc } from "../http/html";
import { issueDevice, resolveDeviceToken } from "../gateway/devices";
import { cookieValues, SESSION_COOKIE } from "../access/cookies";
import { PAGE_HEADERS } from "../access/pages";
import { PORTAL_PREFIX } from "../access/login/redirects";
import { liveSessionFromTokens, teamOrigin, type LiveSession } from "../access/login/team";
import { csrfToken, csrfValid } from "./csrf";
import { appleDnsProfile } from "./mobileconfig";

type C = Context<AppEnv>;

export const portalRoutes = new Hono<AppEnv>();


function html(status: number, title: string, body: string): Response {
  const doc = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)}</title><style>body{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}code{word-break:break-all;background:#f3f3f3;padding:.1rem .3rem}label{display:block;margin:.5rem 0}</style></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`;
  return new Response(doc, { status, headers: PAGE_HEADERS });
}

/** The org session of this browser, or a redirect to log in and come back here. */
async function requireOrg(c: C): Promise<{ team: string; live: LiveSession } | Response> {
  const team = teamOrigin(c.var.config, c.req.url);
  const live = await liveSessionFromTokens(c.env, cookieValues(c.req.header("cookie"), SESSION_COOKIE), { audience: team, type: "org", issuer: team });
  if (live) return { team, live };
  const back = c.req.method === "GET" ? c.req.url : `${team}${PORTAL_PREFIX}/`;
  const login = `${team}/cdn-cgi/access/login/${encodeURIComponent(new URL(team).host)}?redirect_url=${encodeURIComponent(back)}`;
  return new Response(null, { status: 302, headers: { location: login, "cache-control": "no-store" } });
}

/** A POST must come from this origin's own form: the CSRF token of this session, and no foreign `Origin`. */
async function checkForm(c: C, team: string, live: LiveSession): Promise<URLSearchParams | Response> {
  const origin = c.req.header("origin");
  if (origin && origin !== team) return html(403, "Request refused", "<p>This form must be submitted from the portal itself.</p>");
  const form = new URLSearchParams(await c.req.text());
  if (!(await csrfValid(c.env, live.claims.sid, form.get("csrf") ?? ""))) return html(403, "Request refused", "<p>The form expired. Go back, reload the page and try again.</p>");
  return form;
}

portalRoutes.get("/", async (c) => {
  const auth = await requireOrg(c);
  if (auth instanceof Response) return auth;
  const csrf = await csrfToken(c.env, auth.live.claims.sid);
  return html(
    200,
    "Your devices",
    `<p>Signed in as <strong>${esc(auth.live.claims.email)}</strong>. <a href="/cdn-cgi/access/logout">Sign out</a></p>
<h2>Gateway DNS for a new device</h2>
<p>Create a DNS-over-HTTPS address for one device. It filters DNS by your identity and stops working as soon as your account is deactivated.</p>
<form method="post" action="${PORTAL_PREFIX}/gateway/devices">
<input type="hidden" name="csrf" value="${esc(csrf)}">
<label>Device name <input name="name" required maxlength="100" placeholder="Ada's laptop"></label>
<button type="submit">Create DNS address</button></form>`,
  );
});

portalRoutes.post("/gateway/devices", async (c) => {
  const auth = await requireOrg(c);
  if (auth instanceof Response) return auth;
  const form = await checkForm(c, auth.team, auth.live);
  if (form instanceof Response) return form;
  const name = (form.get("name") ?? "").trim().slice(0, 100);
  if (!name) return html(400, "A name is needed", `<p>Give the device a name. <a href="${PORTAL_PREFIX}/">Back</a></p>`);
  const issued = await issueDevice(c.env, { userId: auth.live.claims.sub, name, enrolledBy: "self_service" }, auth.team);
  if (!issued.ok) return html(403, "Not possible", "<p>Your account cannot enroll devices right now. Ask your administrator.</p>");
  const { device } = issued;
  const csrf = await csrfToken(c.env, auth.live.claims.sid);
  return html(
    200,
    `DNS address for ${device.name}`,
    `<p>This address is shown <strong>once</strong>. It is a secret: anyone who has it resolves DNS as you.</p>
<p><code>${esc(device.doh_url)}</code></p>
<ul><li>Firefox: Settings → Privacy &amp; Security → DNS over HTTPS → Max Protection → Custom, paste the address.</li>
<li>Chrome / Edge: Settings → Privacy and security → Security → Use secure DNS → With: Custom, paste the address.</li>
<li>Windows 11: Settings → Network → DNS server assignment → Edit → DNS over HTTPS: On (manual template), paste the address.</li>
<li>Apple devices: download the profile below and install it (Settings → Profile Downloaded).</li></ul>
<form method="post" action="${PORTAL_PREFIX}/gateway/profile">
<input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="token" value="${esc(device.token)}">
<button type="submit">Download Apple DNS profile (.mobileconfig)</button></form>
<p><a href="${PORTAL_PREFIX}/">Back</a></p>`,
  );
});

/** The Apple profile for one of this person's devices; the token comes back in the POST body, never in a URL. */
portalRoutes.post("/gateway/profile", async (c) => {
  const auth = await requireOrg(c);
  if (auth instanceof Response) return auth;
  const form = await checkForm(c, auth.team, auth.live);
  if (form instanceof Response) return form;
  const token = form.get("token") ?? "";
  const device = token ? await resolveDeviceToken(c.env, token) : null;
  if (!device || device.userId !== auth.live.claims.sub) return html(404, "Unknown device", "<p>That device does not exist or is not yours.</p>");
  const profile = appleDnsProfile({ dohUrl: `${auth.team}/dns-query/${token}`, deviceId: device.deviceId, organization: new URL(auth.team).host });
  return new Response(profile, {
    headers: {
      "content-type": "application/x-apple-aspen-config",
      "content-disposition": 'attachment; filename="gateway-dns.mobileconfig"',
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
});
