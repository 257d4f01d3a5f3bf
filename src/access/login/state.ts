// The login in flight between the team host and the IdP: PKCE verifier, state, nonce and where to
// go afterwards, kept in a short-lived cookie on the team host. The value is sealed with AES-GCM
// (src/lib/secret-box.ts), so it is both secret (the PKCE verifier must not be readable) and
// authenticated (it cannot be forged or altered), and it is bound to its own `state`: a cookie of
// one login cannot complete another. One cookie per login (named after its state), so two tabs
// signing in at once do not overwrite each other.
import { openSecret, sealSecret } from "../../lib/secret-box";
import { clearCookie, cookieValues, setCookie } from "../cookies";

/** Ten minutes to authenticate at the IdP (Cloudflare's login page has a similar limit). */
export const LOGIN_STATE_TTL_SECONDS = 600;
const COOKIE_PREFIX = "CF_AccessLogin_";
const COOKIE_PATH = "/cdn-cgi/access/";

export interface LoginState {
  state: string;
  nonce: string;
  codeVerifier: string;
  idpId: string;
  appId: string;
  /** The app URL to return to, already checked against the app's host and path. */
  redirectUrl: string;
  /** Epoch ms after which the login is refused. */
  expiresAt: number;
}

const cookieName = (state: string) => `${COOKIE_PREFIX}${state.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 22)}`;

/** The `Set-Cookie` value that carries a login to the callback. */
export async function loginStateCookie(env: Env, login: LoginState): Promise<string> {
  const sealed = await sealSecret(env.ACCESS_SECRETS_KEY, "login_state", login.state, JSON.stringify(login));
  return setCookie(cookieName(login.state), sealed, { path: COOKIE_PATH, maxAge: LOGIN_STATE_TTL_SECONDS });
}

/** Deletes the cookie of the login with this `state`. */
export function clearLoginStateCookie(state: string): string {
  return clearCookie(cookieName(state), COOKIE_PATH);
}

/** The login the callback's `state` names, or null when the cookie is missing, altered, of another login, or expired. */
export async function readLoginState(env: Env, cookieHeader: string | null, state: string, now = Date.now()): Promise<LoginState | null> {
  if (!state || state.length > 256) return null;
  for (const value of cookieValues(cookieHeader, cookieName(state))) {
    try {
      const login = JSON.parse(await openSecret(env.ACCESS_SECRETS_KEY, "login_state", state, value)) as LoginState;
      if (login.state === state && login.expiresAt > now) return login;
    } catch {
      // Altered, sealed for another state or under another key: not this login.
    }
  }
  return null;
}
