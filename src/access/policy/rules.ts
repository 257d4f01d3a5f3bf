// Cloudflare Access policy and rule shapes (API: `/accounts/:id/access/apps/:app_id/policies`,
// `/access/groups`), validated with zod. A rule is an object with exactly one key naming its
// selector, e.g. `{"email_domain":{"domain":"example.com"}}`. Unknown selectors and extra members
// are refused, with the path of the offending member (`include[2].email_domain.domain: …`), so an
// admin's typo never silently becomes a rule that matches nobody (or everybody).
import { z } from "zod";
import { parseCidr } from "./ip";

const nonEmpty = z.string().trim().min(1, "must not be empty");

/** A DNS domain: labels of letters, digits and inner hyphens (Cloudflare matches the part after `@`). */
const domain = z
  .string()
  .refine((d) => !d.includes("@"), "a domain without \"@\" (example.com, not @example.com)")
  .refine(
    (d) => d.length <= 253 && d.split(".").every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)),
    "must be a domain such as example.com",
  );

const email = z.string().refine((e) => {
  const at = e.lastIndexOf("@");
  return at > 0 && at < e.length - 1 && !/\s/.test(e);
}, "must be an email address");

const idpId = nonEmpty;

/** Each selector's body schema; the key of this map is the rule's only key. */
const RULE_BODIES = {
  email: z.strictObject({ email }),
  email_domain: z.strictObject({ domain }),
  everyone: z.strictObject({}),
  ip: z.strictObject({
    ip: z.string().refine((s) => parseCidr(s) !== null, "must be an IPv4 or IPv6 address or CIDR (10.0.0.0/8, 2001:db8::/32)"),
  }),
  group: z.strictObject({ id: nonEmpty }),
  // Entra ID: `id` is the group's object id, which Entra sends as the SCIM group's externalId.
  azureAD: z.strictObject({ id: nonEmpty, identity_provider_id: idpId }),
  okta: z.strictObject({ name: nonEmpty, identity_provider_id: idpId }),
  oidc: z.strictObject({
    claim_name: z.literal("groups", { error: 'only the "groups" claim is supported' }),
    claim_value: nonEmpty,
    identity_provider_id: idpId,
  }),
} as const;

type Bodies = typeof RULE_BODIES;
/** The selectors this evaluator understands. */
export type RuleKind = keyof Bodies;
/** One Access rule: exactly one selector key with its body. */
export type Rule = { [K in RuleKind]: { [P in K]: z.output<Bodies[K]> } }[RuleKind];

const KINDS = Object.keys(RULE_BODIES) as RuleKind[];

/** Zod schema of one rule: an object with exactly one known selector key. */
export const RuleSchema = z.unknown().transform((input, ctx): Rule => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    ctx.addIssue({ code: "custom", message: `must be an object with one selector (${KINDS.join(", ")})` });
    return z.NEVER;
  }
  const keys = Object.keys(input);
  const kind = keys[0];
  if (kind === undefined || keys.length !== 1) {
    ctx.addIssue({ code: "custom", message: `must have exactly one selector, got ${keys.length === 0 ? "none" : keys.join(", ")}` });
    return z.NEVER;
  }
  if (!Object.hasOwn(RULE_BODIES, kind)) {
    ctx.addIssue({ code: "custom", path: [kind], message: `unknown selector; expected one of ${KINDS.join(", ")}` });
    return z.NEVER;
  }
  const body = RULE_BODIES[kind as RuleKind].safeParse((input as Record<string, unknown>)[kind]);
  if (!body.success) {
    for (const issue of body.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) ctx.addIssue({ code: "custom", path: [kind, ...issue.path, key], message: "unknown member" });
      } else {
        ctx.addIssue({ code: "custom", path: [kind, ...issue.path], message: issue.message });
      }
    }
    return z.NEVER;
  }
  return { [kind]: body.data } as Rule;
});

const rules = z.array(RuleSchema);

/** The rule sections shared by policies and reusable Access groups. */
const sections = {
  include: rules,
  exclude: rules.default([]),
  require: rules.default([]),
};

/** Cloudflare's policy decisions (the dashboard calls `deny` "Block" and `non_identity` "Service Auth"). */
export const DECISIONS = ["allow", "deny", "bypass", "non_identity"] as const;
export type Decision = (typeof DECISIONS)[number];

/** Zod schema of an Access application policy body. */
export const PolicySchema = z.strictObject({
  name: nonEmpty,
  decision: z.enum(DECISIONS),
  ...sections,
  precedence: z.number().int().min(1),
  // Go duration syntax, as Cloudflare uses (`24h`, `30m`, `1h30m`).
  session_duration: z
    .string()
    .regex(/^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/, 'must be a duration such as "24h" or "30m"')
    .optional(),
});
export type Policy = z.output<typeof PolicySchema>;

/** Zod schema of a reusable Access group's rule sections (`/access/groups`). */
export const GroupDefinitionSchema = z.strictObject({ name: nonEmpty.optional(), ...sections });
export type GroupDefinition = z.output<typeof GroupDefinitionSchema>;

/** A parse result: bad input is a value, not an exception. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** `include[2].email_domain.domain` from a zod issue path. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out;
}

function parseWith<T>(schema: z.ZodType<T>, input: unknown): ParseResult<T> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  const error = result.error.issues
    .map((i) => {
      const where = formatPath(i.path);
      // Unknown members are reported at their own path, which names them.
      const message = i.code === "unrecognized_keys" ? "unknown member" : i.message;
      return i.code === "unrecognized_keys"
        ? i.keys.map((k) => `${where === "" ? k : `${where}.${k}`}: ${message}`).join("; ")
        : `${where === "" ? "(body)" : where}: ${message}`;
    })
    .join("; ");
  return { ok: false, error };
}

/** Validates an Access policy body; never throws. */
export function parsePolicy(input: unknown): ParseResult<Policy> {
  return parseWith(PolicySchema, input);
}

/** Validates a reusable Access group body; never throws. */
export function parseGroupDefinition(input: unknown): ParseResult<GroupDefinition> {
  return parseWith(GroupDefinitionSchema, input);
}

/** Validates one rule; never throws. */
export function parseRule(input: unknown): ParseResult<Rule> {
  return parseWith(RuleSchema, input);
}

/** Each selector's body schema, for the OpenAPI document (src/admin/openapi.ts: `RuleSchema` is a transform). */
export { RULE_BODIES };
