// The Access part of scripts/smoke-dev.mjs: a real login against `npm run dev`, as a browser does it,
// on what `npm run --silent idp -- access-demo --json` created (docs/access.md, "The login flow"):
//
//   app host → 302 team login → 302 development IdP → its sign-in form, POSTed → 302 callback
//   → 302 app host /cdn-cgi/access/authorized → 302 the app URL → the echo origin (200), whose
//   `cf-access-jwt-assertion` must verify against <base>/cdn-cgi/access/certs (jose: audience = the
//   app's aud, issuer = base); get-identity; the `cf-access-token` header; logout ends the login;
//   then deprovisioning over SCIM (Entra ID's PATCH) refuses the very next proxied request, and a
//   new login is refused.

import { createLocalJWKSet, jwtVerify } from "jose";
import { Browser, hiddenInputs } from "./access-browser.mjs";

const ENTRA_DEACTIVATE = {
  schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  Operations: [{ op: "Replace", path: "active", value: "False" }],
};

/**
 * Drives the flow; `check(condition, message)` throws on failure, `log(message)` reports progress.
 * `demo` is the object `idp -- access-demo --json` printed.
 */
export async function checkAccessLogin({ baseUrl, demo, check, log }) {
  const team = new URL(baseUrl);
  const appUrl = (path) => new URL(path, demo.app_url).href;
  const describe = (res) => `${res.status}${res.location ? ` → ${res.location}` : ""}${res.status >= 400 ? `: ${res.text.slice(0, 300)}` : ""}`;

  check(demo.app_host === `localhost:${team.port}`, `access-demo app_host is ${demo.app_host}, expected localhost:${team.port}`);
  for (const k of ["idp_id", "secret", "user_id", "app_id", "aud", "scim_base_url"]) check(typeof demo[k] === "string" && demo[k], `access-demo --json: no ${k}`);

  /** Runs one login from an unauthenticated request to `path` on the app; returns the final response and the hops. */
  async function login(browser, path, { expectRefusal = false } = {}) {
    const hops = [];
    const go = async (url, init) => {
      const res = await browser.send(url, init);
      hops.push(`${init?.method ?? "GET"} ${new URL(url).host}${new URL(url).pathname} ${res.status}`);
      return res;
    };
    const start = await go(appUrl(path));
    const loginAt = `${baseUrl}/cdn-cgi/access/login/${encodeURIComponent(demo.app_host)}`;
    check(start.status === 302 && start.location?.startsWith(`${loginAt}?redirect_url=`), `app host without a session: ${describe(start)}, expected 302 to ${loginAt}`);
    const toIdp = await go(start.location);
    check(toIdp.status === 302 && toIdp.location?.startsWith(`${demo.idp_issuer}/authorize?`), `team login: ${describe(toIdp)}, expected 302 to the dev IdP`);
    check(toIdp.setCookies.some((c) => c.startsWith("CF_AccessLogin_")), "team login set no CF_AccessLogin_* cookie");
    const authorize = new URL(toIdp.location);
    check(authorize.searchParams.get("code_challenge_method") === "S256" && authorize.searchParams.get("state") && authorize.searchParams.get("nonce"), `the authorization request lacks PKCE, state or nonce: ${authorize.search}`);
    const form = await go(authorize.href);
    check(form.status === 200 && /<form\b[^>]*method="post"/i.test(form.text), `dev IdP sign-in page: ${describe(form)}`);
    const fields = hiddenInputs(form.text);
    check(fields.state === authorize.searchParams.get("state"), "the dev IdP's form does not carry the state");
    const posted = await go(authorize.href, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ ...fields, email: demo.email }).toString(),
    });
    check(posted.status === 302 && posted.location?.startsWith(`${baseUrl}/cdn-cgi/access/callback?`), `dev IdP sign-in: ${describe(posted)}, expected 302 to the callback`);
    const callback = await go(posted.location);
    if (expectRefusal) return { final: callback, hops };
    check(callback.status === 302 && callback.location?.startsWith(`${demo.app_url}cdn-cgi/access/authorized?`), `callback: ${describe(callback)}, expected 302 to the app host's /cdn-cgi/access/authorized`);
    const authorized = await go(callback.location);
    check(authorized.status === 302 && authorized.location === appUrl(path), `authorized: ${describe(authorized)}, expected 302 to ${appUrl(path)}`);
    const final = await go(authorized.location);
    return { final, hops };
  }

  // 1. Log in and reach the echo origin.
  const browser = new Browser();
  const { final, hops } = await login(browser, "/smoke/page?x=1");
  check(final.status === 200, `proxied request after login: ${describe(final)}\n  hops: ${hops.join(" | ")}`);
  log(`Access login: ${hops.join(" → ")}`);
  for (const [host, path] of [[team.hostname, "/"], ["localhost", "/"]]) {
    const c = browser.cookie(host, "CF_Authorization");
    check(c && c.path === path && c.attrs.httponly && c.attrs.secure && c.attrs.samesite === "Lax", `CF_Authorization on ${host}: ${JSON.stringify(c)}, expected Path=${path}; HttpOnly; Secure; SameSite=Lax`);
  }
  check(![...(browser.jar.get(team.hostname)?.values() ?? [])].some((c) => c.name.startsWith("CF_AccessLogin_")), "the login-state cookie outlived the callback");

  const echo = JSON.parse(final.text);
  check(echo.path === "/__dev/echo/smoke/page" && echo.query?.x?.[0] === "1", `echo origin saw ${echo.path} ${JSON.stringify(echo.query)}, expected /__dev/echo/smoke/page ?x=1`);
  check(echo.headers["cf-access-authenticated-user-email"] === demo.email, `cf-access-authenticated-user-email is ${echo.headers["cf-access-authenticated-user-email"]}`);
  const assertion = echo.headers["cf-access-jwt-assertion"];
  check(typeof assertion === "string" && assertion.split(".").length === 3, "the origin received no cf-access-jwt-assertion");
  const certsRes = await fetch(`${baseUrl}/cdn-cgi/access/certs`);
  check(certsRes.status === 200, `GET /cdn-cgi/access/certs → ${certsRes.status}`);
  const certs = await certsRes.json();
  check(Array.isArray(certs.keys) && certs.public_cert && Array.isArray(certs.public_certs), "certs lack keys, public_cert or public_certs");
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(assertion, createLocalJWKSet(certs), { audience: demo.aud, issuer: baseUrl, algorithms: ["RS256"] }));
  } catch (err) {
    check(false, `cf-access-jwt-assertion does not verify against /cdn-cgi/access/certs: ${err.message}`);
  }
  check(claims.type === "app" && claims.email === demo.email && claims.sub === demo.user_id && typeof claims.sid === "string", `assertion claims ${JSON.stringify(claims)}`);
  log(`echo origin got a cf-access-jwt-assertion that verifies against /cdn-cgi/access/certs (aud ${demo.aud.slice(0, 8)}…, sub ${claims.sub}, sid ${claims.sid})`);

  // 2. get-identity, and the token as a header (non-browser clients).
  const identity = await browser.send(appUrl("/cdn-cgi/access/get-identity"));
  check(identity.status === 200 && JSON.parse(identity.text).email === demo.email, `get-identity: ${describe(identity)}`);
  const appCookie = browser.cookie("localhost", "CF_Authorization").value;
  const viaHeader = await browser.send(appUrl("/api"), { headers: { "cf-access-token": appCookie }, cookies: false });
  check(viaHeader.status === 200, `cf-access-token header: ${describe(viaHeader)}`);
  const noToken = await browser.send(appUrl("/api"), { headers: { "x-requested-with": "XMLHttpRequest" }, cookies: false });
  check(noToken.status === 401, `XHR without a session: ${describe(noToken)}, expected 401`);
  log("get-identity → 200; cf-access-token header → 200; XHR without a session → 401");

  // 3. Logout ends the login: the old app cookie is refused.
  const logout = await browser.send(appUrl("/cdn-cgi/access/logout"));
  check(logout.status === 302 && logout.location === `${baseUrl}/cdn-cgi/access/logout`, `app logout: ${describe(logout)}`);
  await browser.send(logout.location);
  const afterLogout = await new Browser().send(appUrl("/smoke/page"), { headers: { cookie: `CF_Authorization=${appCookie}` }, cookies: false });
  check(afterLogout.status === 302 && afterLogout.location?.startsWith(`${baseUrl}/cdn-cgi/access/login/`), `the old cookie after logout: ${describe(afterLogout)}, expected 302 to login`);
  log("logout → the old cookie is refused (302 to login)");

  // 4. Log in again, deprovision over SCIM (Entra ID's PATCH): the very next proxied request is refused.
  const again = new Browser();
  const second = await login(again, "/smoke/again");
  check(second.final.status === 200, `second login: ${describe(second.final)}`);
  const patch = await fetch(`${demo.scim_base_url}/Users/${encodeURIComponent(demo.user_id)}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${demo.secret}`, "content-type": "application/scim+json" },
    body: JSON.stringify(ENTRA_DEACTIVATE),
  });
  const patchText = await patch.text();
  check(patch.status === 200 || patch.status === 204, `SCIM PATCH active=False → ${patch.status}: ${patchText.slice(0, 300)}`);
  const refused = await again.send(appUrl("/smoke/again"));
  check(refused.status === 302 && refused.location?.startsWith(`${baseUrl}/cdn-cgi/access/login/`), `the next proxied request after deprovisioning: ${describe(refused)}, expected 302 to login`);
  const relogin = await login(new Browser(), "/smoke/again", { expectRefusal: true });
  check(relogin.final.status === 403 && /deactivated/i.test(relogin.final.text), `a new login after deprovisioning: ${describe(relogin.final)}, expected 403 (deactivated)`);
  log("SCIM PATCH active=False → the next proxied request is sent to login; a new login is refused (403)");
}
