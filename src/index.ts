import { app } from "./app";
import { readConfig } from "./config";
import { database } from "./db";
import { pruneProvisioningLog } from "./logs/provisioning-log";

export { UserSessions } from "./sessions/user-sessions";

export default {
  fetch: app.fetch,

  /** Daily housekeeping (wrangler.toml [triggers]): bounded provisioning-log retention. */
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(pruneProvisioningLog(database(env), readConfig(env).logRetentionDays).then(() => undefined));
  },
} satisfies ExportedHandler<Env>;
