import { app } from "./app";
import { readConfig } from "./config";
import { database } from "./db";
import { pruneProvisioningLog } from "./logs/provisioning-log";
import { consumeIdentityChanges, type IdentityChangeMessage } from "./sessions/fanout";

export { UserSessions } from "./sessions/user-sessions";

export default {
  fetch: app.fetch,

  /**
   * Daily housekeeping (wrangler.toml [triggers]): bounded provisioning-log retention, and
   * `PRAGMA optimize` so SQLite's planner has fresh statistics for the filter indexes (D1 docs).
   */
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(
      (async () => {
        await pruneProvisioningLog(database(env), readConfig(env).logRetentionDays);
        await env.DB.prepare("PRAGMA optimize").run();
      })(),
    );
  },

  /** Group-change and revocation fan-out (IDENTITY_CHANGES): idempotent, retried with backoff. */
  async queue(batch, env, _ctx) {
    await consumeIdentityChanges(batch, env);
  },
} satisfies ExportedHandler<Env, IdentityChangeMessage>;
