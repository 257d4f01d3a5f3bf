import { allowInsecureRequests, customFetch } from "oauth4webapi";

/**
 * Outbound HTTP for the OIDC client (discovery, token endpoint, JWKS).
 *
 * Under `npm run dev` the development IdP (`src/dev/idp.ts`) is served by this very Worker under
 * `/__dev/idp`. Calling our own URL with `fetch` would need the network (and under `wrangler dev`
 * a Worker cannot reliably reach itself), so when DEV_ROUTES is on a request whose path is under
 * `/__dev/idp/` is handed to a dispatcher that `src/dev/idp.ts` registers at load time, and answered
 * in-process. Registration (rather than importing the dev routes here) keeps src/access free of any
 * dependency on src/dev or src/app.ts. With DEV_ROUTES off nothing is ever dispatched in-process.
 */
export type InProcessDispatcher = (request: Request, env: Env) => Promise<Response>;

export const DEV_IDP_PATH = "/__dev/idp";

let devDispatcher: InProcessDispatcher | null = null;

/** Called once by src/dev/idp.ts: answers requests to the development IdP without the network. */
export function registerDevIdpDispatcher(dispatcher: InProcessDispatcher): void {
  devDispatcher = dispatcher;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Whether `url` may be an IdP endpoint: https, or http on a loopback host when DEV_ROUTES is on. */
export function isAllowedEndpoint(url: URL, devRoutes: boolean): boolean {
  if (url.username || url.password || url.hash) return false;
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && devRoutes && LOOPBACK.has(url.hostname);
}

const devRoutesOn = (env: Env) => env.DEV_ROUTES === "true";

/** The fetch used for every IdP request: the dev IdP in-process (DEV_ROUTES only), else the global fetch. */
export function idpFetch(env: Env): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return (input, init) => {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname;
    if (devRoutesOn(env) && devDispatcher && (path === DEV_IDP_PATH || path.startsWith(`${DEV_IDP_PATH}/`))) return devDispatcher(request, env);
    // Looked up at call time, so a test's stubbed fetch is used.
    return fetch(request);
  };
}

/** oauth4webapi request options: our fetch, and plain http only for a loopback URL in development. */
export function oauthOptions(env: Env, url: URL) {
  return {
    [customFetch]: idpFetch(env) as (url: string, options: RequestInit) => Promise<Response>,
    ...(url.protocol === "http:" && isAllowedEndpoint(url, devRoutesOn(env)) ? { [allowInsecureRequests]: true } : {}),
  };
}
