import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Self-hosted Access applications (Cloudflare's `apps` with `type: "self_hosted"`). An app is
 * selected by the request's host and the longest matching path prefix; `domain` is kept as the
 * admin wrote it, `host`/`path_prefix` are its normalised parts (lower-case host, no trailing slash).
 */
export const accessApps = sqliteTable(
  "access_apps",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    domain: text("domain").notNull(),
    host: text("host").notNull(),
    /** `""` (the whole host) or `/admin` (no trailing slash). */
    pathPrefix: text("path_prefix").notNull().default(""),
    type: text("type").notNull().default("self_hosted"),
    /** The generated audience tag: the JWT `aud` the origin checks (64 hex characters, as Cloudflare's). */
    aud: text("aud").notNull(),
    /** JSON array of identity provider ids allowed to log in; `[]`: every connection. */
    allowedIdps: text("allowed_idps").notNull().default("[]"),
    /** Go duration, e.g. `24h`, `30m`. */
    sessionDuration: text("session_duration").notNull().default("24h"),
    /** Where allowed requests are forwarded (our field). */
    origin: text("origin").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [uniqueIndex("access_apps_aud").on(t.aud), uniqueIndex("access_apps_host_path").on(t.host, t.pathPrefix)],
);

/** An app's policies; evaluated by `src/access/policy` (bypass/non_identity first, then precedence). */
export const accessPolicies = sqliteTable(
  "access_policies",
  {
    id: text("id").primaryKey(),
    appId: text("app_id")
      .notNull()
      .references(() => accessApps.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** `allow` | `deny` | `bypass` | `non_identity` */
    decision: text("decision").notNull(),
    /** JSON arrays of rules (`src/access/policy/rules.ts`). */
    include: text("include").notNull().default("[]"),
    exclude: text("exclude").notNull().default("[]"),
    require: text("require").notNull().default("[]"),
    precedence: integer("precedence").notNull(),
    sessionDuration: text("session_duration"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [uniqueIndex("access_policies_app_precedence").on(t.appId, t.precedence)],
);

/** Reusable Access groups (Cloudflare's `access/groups`), named by `{"group":{"id"}}` rules. */
export const accessGroups = sqliteTable(
  "access_groups",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    include: text("include").notNull().default("[]"),
    exclude: text("exclude").notNull().default("[]"),
    require: text("require").notNull().default("[]"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [uniqueIndex("access_groups_name").on(t.name)],
);

/**
 * Access token signing keys (RS256). The private JWK is stored encrypted (AES-GCM under the
 * ACCESS_SECRETS_KEY Worker secret); the public JWK and a self-signed certificate are published at
 * `/cdn-cgi/access/certs` until `retire_after` (the last token it signed has expired).
 */
export const accessSigningKeys = sqliteTable(
  "access_signing_keys",
  {
    kid: text("kid").primaryKey(),
    publicJwk: text("public_jwk").notNull(),
    privateJwkCiphertext: text("private_jwk_ciphertext").notNull(),
    certPem: text("cert_pem").notNull(),
    createdAt: text("created_at").notNull(),
    /** When this key stopped signing (a newer key took over); null for the current key. */
    rotatedAt: text("rotated_at"),
    /** Unpublished after this instant (rotated_at + the longest session duration); null while current. */
    retireAfter: text("retire_after"),
  },
  (t) => [index("access_signing_keys_created").on(t.createdAt)],
);

/** Account-wide Access settings as key/value rows (e.g. `key_rotation_interval_days`). */
export const accessSettings = sqliteTable("access_settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
