/** Runtime configuration, read from the Worker's vars and secrets in one place (wrangler.toml [vars]). */
export interface Config {
  maxPayloadBytes: number;
  maxResults: number;
  logRetentionDays: number;
  devRoutes: boolean;
  publicBaseUrl: string | undefined;
}

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number.parseInt(raw ?? "", 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Parses the Worker's configuration; invalid values fall back to safe defaults. */
export function readConfig(env: Env): Config {
  return {
    maxPayloadBytes: positiveInt(env.SCIM_MAX_PAYLOAD_BYTES, 1_048_576),
    maxResults: positiveInt(env.SCIM_MAX_RESULTS, 200),
    logRetentionDays: positiveInt(env.PROVISIONING_LOG_RETENTION_DAYS, 30),
    devRoutes: env.DEV_ROUTES === "true",
    publicBaseUrl: env.PUBLIC_BASE_URL ? env.PUBLIC_BASE_URL.replace(/\/+$/, "") : undefined,
  };
}

/** The public origin of this deployment: PUBLIC_BASE_URL if set, else the request's own origin. */
export function baseUrlFor(config: Config, requestUrl: string): string {
  return config.publicBaseUrl ?? new URL(requestUrl).origin;
}

/** `scim_base_url` of a connection: what an admin pastes into Entra's "Tenant URL" or Okta's "SCIM connector base URL". */
export function scimBaseUrl(baseUrl: string, idpId: string): string {
  return `${baseUrl}/populations/${idpId}/scim/v2`;
}
