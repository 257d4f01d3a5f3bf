import { app } from "./app";
import { readConfig } from "./config";
import { database } from "./db";
import { rotateIfDue } from "./access/tokens/keys";
import { pruneProvisioningLog } from "./logs/provisioning-log";
import { dnsLogRetentionDays, pruneDnsLog } from "./gateway/dns-log";
import { consumeDeadLetters } from "./sessions/dead-letters";
import { redriveOutbox } from "./sessions/outbox";
import { consumeIdentityChanges, type IdentityChangeMessage } from "./sessions/fanout";

/** Queue names as in wrangler.toml (`batch.queue` tells the consumers apart). */
const IDENTITY_CHANGES_QUEUE = "zt-identity-changes";
const IDENTITY_CHANGES_DLQ = "zt-identity-changes-dlq";

export { UserSessions } from "./sessions/user-sessions";

/** The every-minute trigger in wrangler.toml only re-drives the outbox; any other trigger (daily) also does housekeeping. */
const REDRIVE_CRON = "* * * * *";

export default {
  fetch: app.fetch,

  /**
   * Every run re-drives session work left in `identity_outbox` (a fan-out whose dispatch failed),
   * so a lost dispatch delays a revocation by one cron interval at most, never forever. The daily
   * run (wrangler.toml [triggers]: any cron but REDRIVE_CRON) also does housekeeping: bounded provisioning-log
   * retention, `PRAGMA optimize` so SQLite's planner has fresh statistics (D1 docs), and Access signing-key
   * rotation when the key is older than `key_rotation_interval_days` (pruning keys whose tokens have expired).
   */
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(
      (async () => {
        const redrive = await redriveOutbox(env, controller.scheduledTime);
        if (redrive.pending > 0) console.error("identity outbox: rows still pending after re-drive", redrive.pending);
        if (controller.cron === REDRIVE_CRON) return;
        await pruneProvisioningLog(database(env), readConfig(env).logRetentionDays);
        await pruneDnsLog(env.DB, dnsLogRetentionDays(env));
        await env.DB.prepare("PRAGMA optimize").run();
        await rotateIfDue(env, controller.scheduledTime);
      })(),
    );
  },

  /**
   * IDENTITY_CHANGES: group-change and revocation fan-out (idempotent, retried with backoff).
   * Its dead-letter queue: messages that exhausted their retries, recorded for the admin API.
   */
  async queue(batch, env, _ctx) {
    switch (batch.queue) {
      case IDENTITY_CHANGES_QUEUE:
        return consumeIdentityChanges(batch as MessageBatch<IdentityChangeMessage>, env);
      case IDENTITY_CHANGES_DLQ:
        return consumeDeadLetters(batch, env);
      default:
        // A queue bound by mistake: keep its messages rather than ack work nobody did.
        console.error("message batch from an unknown queue", batch.queue);
        batch.retryAll();
    }
  },
} satisfies ExportedHandler<Env, unknown>;
