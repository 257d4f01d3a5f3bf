import { exports } from "cloudflare:workers";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { admin, ORIGIN, provisionUser, scim, type TestConnection } from "../helpers";
import { Browser } from "./browser";
import { routeFetch } from "./fetch-router";
import { createTestIdp, type TestIdp, type TestIdpKind } from "./test-idp";

/** A request the test origin received, with what it verified of the Access assertion. */
export interface OriginHit {
  url: string;
  headers: Headers;
  /** The verified claims of `Cf-Access-Jwt-Assertion`, or null when absent; a failed verification records its error. */
  claims: Record<string, unknown> | null;
  error: string | null;
  /** The request body as text ("" for none). */
  body: string;
}

/**
 * An origin behind Access, as a real one would be: it verifies `Cf-Access-Jwt-Assertion` with
 * nothing but the team's `/cdn-cgi/access/certs` (fetched through the Worker) and the app's `aud`,
 * and refuses (403) a request whose assertion does not verify.
 */
export function createOrigin(audience: () => string) {
  const hits: OriginHit[] = [];
  let jwks: ReturnType<typeof createLocalJWKSet> | null = null;
  const handle = async (request: Request): Promise<Response> => {
    const assertion = request.headers.get("cf-access-jwt-assertion");
    const hit: OriginHit = { url: request.url, headers: request.headers, claims: null, error: null, body: await request.text() };
    hits.push(hit);
    if (assertion) {
      try {
        if (!jwks) {
          const certs = (await (await exports.default.fetch(`${ORIGIN}/cdn-cgi/access/certs`)).json()) as JSONWebKeySet;
          jwks = createLocalJWKSet(certs);
        }
        const { payload } = await jwtVerify(assertion, jwks, { audience: audience(), issuer: ORIGIN, algorithms: ["RS256"] });
        hit.claims = payload as Record<string, unknown>;
      } catch (e) {
        hit.error = e instanceof Error ? e.message : String(e);
        return new Response("bad assertion", { status: 403 });
      }
    }
    if (new URL(request.url).pathname === "/redirect-me") return new Response(null, { status: 302, headers: { location: "/somewhere-else" } });
    return Response.json({ path: new URL(request.url).pathname, email: hit.claims?.email ?? null });
  };
  return { hits, handle, refreshKeys: () => void (jwks = null) };
}

export interface AccessWorld {
  idp: TestIdp;
  conn: TestConnection;
  browser: Browser;
  origin: ReturnType<typeof createOrigin>;
  app: { id: string; aud: string; domain: string };
  restore: () => void;
}

/** Creates an IdP connection (with SCIM) for a test IdP through the admin API. */
export async function createLoginConnection(idp: TestIdp, scimConfig: Record<string, unknown> = {}): Promise<TestConnection> {
  const { type, config } = idp.connection();
  const res = await admin("POST", "/api/v1/access/identity_providers", {
    name: `idp-${crypto.randomUUID().slice(0, 8)}`,
    type,
    config,
    scim_config: { enabled: true, user_deprovision: true, ...scimConfig },
  });
  if (res.status !== 200) throw new Error(`createLoginConnection: ${res.status} ${await res.text()}`);
  const { result } = (await res.json()) as { result: { id: string; scim_config: { secret: string; scim_base_url: string } } };
  return { id: result.id, secret: result.scim_config.secret, scimBaseUrl: result.scim_config.scim_base_url };
}

/** Creates an app and its policies; returns the app. */
export async function createApp(body: Record<string, unknown>, policies: Record<string, unknown>[]): Promise<{ id: string; aud: string; domain: string }> {
  const res = await admin("POST", "/api/v1/access/apps", { type: "self_hosted", session_duration: "24h", ...body });
  if (res.status !== 200) throw new Error(`createApp: ${res.status} ${await res.text()}`);
  const { result } = (await res.json()) as { result: { id: string; aud: string; domain: string } };
  for (const p of policies) {
    const r = await admin("POST", `/api/v1/access/apps/${result.id}/policies`, p);
    if (r.status !== 200) throw new Error(`createPolicy: ${r.status} ${await r.text()}`);
  }
  return result;
}

/**
 * A test IdP, its connection, an app at `https://<host>` forwarding to a verifying origin at
 * `https://origin.test`, and a browser. Call `restore()` in `afterEach`.
 */
export async function accessWorld(opts: {
  kind?: TestIdpKind;
  host?: string;
  scimConfig?: Record<string, unknown>;
  policies?: Record<string, unknown>[];
  appBody?: Record<string, unknown>;
} = {}): Promise<AccessWorld> {
  const idp = await createTestIdp({ kind: opts.kind ?? "oidc" });
  const world = {} as AccessWorld;
  const origin = createOrigin(() => world.app.aud);
  const restore = routeFetch({ [idp.host]: idp.handle, "origin.test": origin.handle });
  const conn = await createLoginConnection(idp, opts.scimConfig);
  const host = opts.host ?? `app-${crypto.randomUUID().slice(0, 8)}.example.test`;
  const app = await createApp(
    { name: "Wiki", domain: host, origin: "https://origin.test", allowed_idps: [conn.id], ...(opts.appBody ?? {}) },
    opts.policies ?? [{ name: "staff", decision: "allow", include: [{ email_domain: { domain: "example.com" } }] }],
  );
  Object.assign(world, { idp, conn, browser: new Browser({ external: { [idp.host]: idp.handle } }), origin, app, restore });
  return world;
}

/** Provisions `email` over SCIM and logs the browser in through `https://<app host><path>`; returns the final response. */
export async function loginAs(world: AccessWorld, email: string, path = "/") {
  world.idp.nextLogin = { email };
  return world.browser.get(`https://${world.app.domain}${path}`);
}

export { provisionUser, scim };
