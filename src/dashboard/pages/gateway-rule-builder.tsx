// The Gateway rule builder: domains (one per line, optionally with all subdomains) and SCIM groups
// picked from the dropdown become the Cloudflare expressions the rule stores, shown before saving.
// "Advanced" lets an admin write the expressions directly; both are checked by the resolver's own
// parser (src/gateway/rules/expression.ts), and saving goes through src/gateway/rules-store.ts.
import { parseExpression, type Expr } from "../../gateway/rules/expression";
import type { RuleView } from "../../gateway/rules-store";
import { Csrf, FormErrors } from "../layout";
import { GroupPicker, type GroupOption, type PickerIdp } from "./group-picker";

/** The whole form. */
export interface RuleDraft {
  name: string;
  action: "allow" | "block" | "override";
  enabled: boolean;
  filter: "dns" | "http";
  precedence: string;
  override_ips: string;
  /** Builder mode: one domain per line, with or without their subdomains, and SCIM group names. */
  domains: string;
  subdomains: boolean;
  groups: string[];
  /** Advanced mode: the expressions as typed. */
  advanced: boolean;
  traffic: string;
  identity: string;
  /** The dropdown's state (connection, search text, picked group id). */
  pick: { idp: string; q: string; group: string };
}

const str = (form: FormData, key: string) => {
  const v = form.get(key);
  return typeof v === "string" ? v : "";
};

/** A wirefilter string literal: double quotes, with `"` and `\` escaped. */
export function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The distinct, non-empty domains of the textarea (lower-cased, trailing dot dropped). */
export function domainLines(text: string): string[] {
  return [...new Set(text.split(/[\r\n]+/).map((d) => d.trim().toLowerCase().replace(/\.$/, "")).filter((d) => d !== ""))];
}

/** The traffic expression of the builder's domains (`any(dns.domains[*] in {"example.com"})`). */
export function domainsExpression(filter: "dns" | "http", domains: string[], subdomains: boolean): string {
  if (domains.length === 0) return "";
  const set = `{${domains.map(quote).join(" ")}}`;
  if (subdomains) return `any(${filter === "dns" ? "dns.domains" : "http.request.domains"}[*] in ${set})`;
  return `${filter === "dns" ? "dns.fqdn" : "http.request.host"} in ${set}`;
}

/** The identity expression of the builder's groups (`any(identity.groups.name[*] in {"risky"})`). */
export function groupsExpression(groups: string[]): string {
  return groups.length === 0 ? "" : `any(identity.groups.name[*] in {${groups.map(quote).join(" ")}})`;
}

/** The two expressions the draft stands for (builder or advanced). */
export function expressions(d: RuleDraft): { traffic: string; identity: string } {
  if (d.advanced) return { traffic: d.traffic, identity: d.identity };
  return { traffic: domainsExpression(d.filter, domainLines(d.domains), d.subdomains), identity: groupsExpression(d.groups) };
}

/** The draft a posted form describes. */
export function parseRuleDraft(form: FormData): RuleDraft {
  const action = str(form, "action_kind");
  return {
    name: str(form, "name"),
    action: action === "allow" || action === "override" ? action : "block",
    enabled: form.has("enabled"),
    filter: str(form, "filter") === "http" ? "http" : "dns",
    precedence: str(form, "precedence"),
    override_ips: str(form, "override_ips"),
    domains: str(form, "domains"),
    subdomains: form.has("subdomains"),
    groups: [...new Set(form.getAll("groups").filter((g): g is string => typeof g === "string" && g !== ""))],
    advanced: str(form, "mode") === "advanced",
    traffic: str(form, "traffic"),
    identity: str(form, "identity"),
    pick: { idp: str(form, "pick.idp"), q: str(form, "pick.q"), group: str(form, "pick.group") },
  };
}

/** A new rule's form: block, DNS, with subdomains. */
export function emptyRuleDraft(idp: string): RuleDraft {
  return { name: "", action: "block", enabled: true, filter: "dns", precedence: "", override_ips: "", domains: "", subdomains: true, groups: [], advanced: false, traffic: "", identity: "", pick: { idp, q: "", group: "" } };
}

/** `{domains, subdomains}` when `traffic` is exactly what the builder would write, else null. */
function builderDomains(filter: "dns" | "http", traffic: string): { domains: string[]; subdomains: boolean } | null {
  if (traffic.trim() === "") return { domains: [], subdomains: true };
  const parsed = parseExpression(traffic);
  if (!parsed.ok || parsed.expr.type !== "compare") return null;
  const e = parsed.expr as Extract<Expr, { type: "compare" }>;
  for (const subdomains of [true, false]) {
    if (domainsExpression(filter, e.values, subdomains) === traffic) return { domains: e.values, subdomains };
  }
  return null;
}

function builderGroups(identity: string): string[] | null {
  if (identity.trim() === "") return [];
  const parsed = parseExpression(identity);
  if (!parsed.ok || parsed.expr.type !== "compare") return null;
  return groupsExpression(parsed.expr.values) === identity ? parsed.expr.values : null;
}

/** A stored rule as a form: in the builder when its expressions are ones it writes, else advanced. */
export function draftFromRule(r: RuleView, idp: string): RuleDraft {
  const filter = r.filters[0] === "http" ? "http" : "dns";
  const d = builderDomains(filter, r.traffic);
  const g = builderGroups(r.identity);
  return {
    name: r.name,
    action: r.action,
    enabled: r.enabled,
    filter,
    precedence: String(r.precedence),
    override_ips: (r.rule_settings.override_ips ?? []).join("\n"),
    domains: (d?.domains ?? []).join("\n"),
    subdomains: d?.subdomains ?? true,
    groups: g ?? [],
    advanced: d === null || g === null,
    traffic: r.traffic,
    identity: r.identity,
    pick: { idp, q: "", group: "" },
  };
}

/** The body `POST /api/v1/gateway/rules` takes. */
export function ruleBody(d: RuleDraft): Record<string, unknown> {
  const { traffic, identity } = expressions(d);
  const ips = d.override_ips.split(/[\s,]+/).filter((x) => x !== "");
  const body: Record<string, unknown> = {
    name: d.name,
    action: d.action,
    enabled: d.enabled,
    filters: [d.filter],
    traffic,
    identity,
    rule_settings: d.action === "override" ? { override_ips: ips } : {},
  };
  if (d.precedence.trim() !== "") body.precedence = /^\d+$/.test(d.precedence.trim()) ? Number(d.precedence.trim()) : d.precedence;
  return body;
}

/** A parse problem of one expression, with a caret under the offending position. */
function ExprCheck({ label, source }: { label: string; source: string }) {
  if (source.trim() === "") return <p class="muted">{`${label}: no condition (matches everything)`}</p>;
  const parsed = parseExpression(source);
  if (parsed.ok) return null;
  return (
    <div class="error" role="alert" data-testid={`${label}-parse-error`}>
      <p>{`${label}: ${parsed.error} at position ${parsed.position}`}</p>
      <pre>{`${source}\n${" ".repeat(Math.min(parsed.position, source.length))}^`}</pre>
    </div>
  );
}

export interface RuleBuilderProps {
  action: string;
  csrf: string;
  draft: RuleDraft;
  idps: PickerIdp[];
  options: GroupOption[];
  selected: GroupOption | null;
  errors: string[];
}

/** The rule form with the expression preview; every button posts back, only "Save rule" saves. */
export function RuleBuilder({ action, csrf, draft: d, idps, options, selected, errors }: RuleBuilderProps) {
  const ex = expressions(d);
  return (
    <form method="post" action={action} data-testid="rule-form">
      <Csrf token={csrf} />
      <input type="hidden" name="mode" value={d.advanced ? "advanced" : "builder"} />
      <FormErrors heading="The rule was not saved:" messages={errors} />
      <label>
        Name <input name="name" value={d.name} required data-testid="rule-name" />
      </label>
      <label>
        Traffic{" "}
        <select name="filter" data-testid="rule-filter">
          <option value="dns" selected={d.filter === "dns"}>DNS (the resolver)</option>
          <option value="http" selected={d.filter === "http"}>HTTP (the Access proxy)</option>
        </select>
      </label>
      <label>
        Action{" "}
        <select name="action_kind" data-testid="rule-action">
          {(["block", "allow", "override"] as const).map((a) => (
            <option value={a} selected={a === d.action}>
              {a}
            </option>
          ))}
        </select>
      </label>
      <label>
        Override IPs (action override; one per line) <textarea name="override_ips" rows={2} cols={40} data-testid="rule-override-ips">{d.override_ips}</textarea>
      </label>
      <label>
        <input type="checkbox" name="enabled" checked={d.enabled} data-testid="rule-enabled" /> Enabled
      </label>
      <label>
        Precedence <input name="precedence" value={d.precedence} inputmode="numeric" placeholder="after the last rule" data-testid="rule-precedence" />
      </label>
      {d.advanced ? (
        <fieldset data-testid="advanced">
          <legend>Expressions (Cloudflare Gateway syntax)</legend>
          <label>
            Traffic <textarea name="traffic" rows={3} cols={80} data-testid="rule-traffic">{d.traffic}</textarea>
          </label>
          <label>
            Identity <textarea name="identity" rows={3} cols={80} data-testid="rule-identity">{d.identity}</textarea>
          </label>
          <button type="submit" name="action" value="builder" formnovalidate>
            Back to the builder (discards these expressions)
          </button>
        </fieldset>
      ) : (
        <fieldset data-testid="builder">
          <legend>Conditions</legend>
          <label>
            Domains (one per line) <textarea name="domains" rows={4} cols={50} data-testid="rule-domains">{d.domains}</textarea>
          </label>
          <label>
            <input type="checkbox" name="subdomains" checked={d.subdomains} data-testid="rule-subdomains" /> and all subdomains
          </label>
          <fieldset>
            <legend>Users in any of these SCIM groups (none: everyone)</legend>
            <ul data-testid="rule-groups">
              {d.groups.map((g, i) => (
                <li>
                  <input type="hidden" name="groups" value={g} />
                  <code>{g}</code>{" "}
                  <button type="submit" name="action" value={`removegroup:${i}`} formnovalidate aria-label={`Remove group ${g}`}>
                    Remove
                  </button>
                </li>
              ))}
            </ul>
            <GroupPicker name="pick" idps={idps} idp={d.pick.idp} q={d.pick.q} selected={d.pick.group} selectedGroup={selected} options={options} label="Add a SCIM group (any connection)" />
            <button type="submit" name="action" value="addgroup" formnovalidate data-testid="rule-add-group">
              Add group
            </button>
          </fieldset>
          <button type="submit" name="action" value="advanced" formnovalidate data-testid="rule-advanced">
            Edit the expressions directly (advanced)
          </button>
        </fieldset>
      )}
      <section aria-labelledby="preview-h">
        <h2 id="preview-h">Resulting expressions</h2>
        <p>
          Traffic: <code data-testid="traffic-preview">{ex.traffic}</code>
        </p>
        <ExprCheck label="traffic" source={ex.traffic} />
        <p>
          Identity: <code data-testid="identity-preview">{ex.identity}</code>
        </p>
        <ExprCheck label="identity" source={ex.identity} />
      </section>
      <p>
        <button type="submit" name="action" value="preview" formnovalidate data-testid="rule-preview">
          Update preview
        </button>{" "}
        <button type="submit" name="action" value="save" data-testid="rule-save">
          Save rule
        </button>
      </p>
    </form>
  );
}
