import { vi } from "vitest";

/** Answers one outbound request of the Worker (or of a test) for a stubbed host. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/**
 * Replaces the global `fetch` for the rest of the test with a router: each request goes to the
 * handler registered for its host (`url.host`, i.e. with a port when there is one, else
 * `url.hostname`). The Worker under test runs in the same isolate as the test, so its outbound
 * `fetch` (oauth4webapi, jose's JWKS fetch, the proxy's origin fetch) is routed too.
 *
 * A request to a host without a handler REJECTS with an error naming the method and URL: tests must
 * never reach the network, and a silent fall-through would hide a misrouted request.
 *
 * `routes` is kept by reference: adding a key after the call registers another host. Returns a
 * function that puts back the `fetch` that was there before (call it in `afterEach`).
 *
 * @example
 *   const restore = routeFetch({ "idp.test": idp.handle, "origin.test": (req) => new Response("hi") });
 *   afterEach(restore);
 */
export function routeFetch(routes: Record<string, FetchHandler>): () => void {
  const previous = globalThis.fetch;
  const routed = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const handler = routes[url.host] ?? routes[url.hostname];
    if (!handler) {
      throw new Error(`routeFetch: no handler for host "${url.host}" (${request.method} ${url.origin}${url.pathname}); tests must never reach the network`);
    }
    return handler(request);
  };
  vi.stubGlobal("fetch", routed);
  return () => {
    vi.stubGlobal("fetch", previous);
  };
}
