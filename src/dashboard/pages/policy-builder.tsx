// The Access policy builder: a form model (rows of everyone | email | email domain | SCIM group | raw
// JSON rule in include / exclude / require), its server-side actions (add and remove rows, find
// groups) and the translation to the body `POST /api/v1/access/apps/:id/policies` takes. Saving goes
// through the same service (src/access/apps/policies.ts), so its refusals become form errors.
import { DECISIONS, type Rule } from "../../access/policy/rules";
import type { StoredPolicy } from "../../access/apps/types";
import { Csrf, FormErrors } from "../layout";
import { GroupPicker, groupById, groupForRule, ruleForGroup, searchGroups, type GroupOption, type PickerIdp } from "./group-picker";

export const SECTIONS = ["include", "exclude", "require"] as const;
export type SectionName = (typeof SECTIONS)[number];
export const ROW_KINDS = ["everyone", "email", "email_domain", "group", "json"] as const;
export type RowKind = (typeof ROW_KINDS)[number];

const KIND_LABEL: Record<RowKind, string> = { everyone: "Everyone", email: "Email", email_domain: "Email domain", group: "SCIM group", json: "Other rule (JSON)" };
const SECTION_HELP: Record<SectionName, string> = {
  include: "Include: any one of these lets a user in",
  exclude: "Exclude: any one of these keeps a user out",
  require: "Require: every one of these must also hold",
};

/** One rule row of the form. */
export interface Row {
  kind: RowKind;
  /** The email, the domain, or the JSON of a rule the builder has no row for. */
  value: string;
  /** Group rows: the connection, the search text and the picked SCIM group id. */
  idp: string;
  q: string;
  group: string;
}

/** The whole form. */
export interface Draft {
  name: string;
  decision: string;
  precedence: string;
  session_duration: string;
  include: Row[];
  exclude: Row[];
  require: Row[];
}

const str = (form: FormData, key: string) => {
  const v = form.get(key);
  return typeof v === "string" ? v : "";
};

/** The draft a posted form describes (rows in index order; unknown kinds dropped). */
export function parseDraft(form: FormData): Draft {
  const draft: Draft = { name: str(form, "name"), decision: str(form, "decision") || "allow", precedence: str(form, "precedence"), session_duration: str(form, "session_duration"), include: [], exclude: [], require: [] };
  for (const s of SECTIONS) {
    const indices = new Set<number>();
    for (const key of form.keys()) {
      const m = new RegExp(`^${s}\\.(\\d{1,3})\\.kind$`).exec(key);
      if (m) indices.add(Number(m[1]));
    }
    for (const i of [...indices].sort((a, b) => a - b)) {
      const kind = str(form, `${s}.${i}.kind`) as RowKind;
      if (!ROW_KINDS.includes(kind)) continue;
      const p = `${s}.${i}`;
      draft[s].push({ kind, value: str(form, `${p}.value`), idp: str(form, `${p}.idp`), q: str(form, `${p}.q`), group: str(form, `${p}.group`) });
    }
  }
  return draft;
}

/** Applies `add:<section>:<kind>` or `remove:<section>:<index>`; other actions leave the draft as is. */
export function applyRowAction(draft: Draft, action: string, defaultIdp: string): Draft {
  const [verb, section, arg] = action.split(":");
  if (!SECTIONS.includes(section as SectionName)) return draft;
  const rows = draft[section as SectionName];
  if (verb === "add" && ROW_KINDS.includes(arg as RowKind) && rows.length < 100) {
    rows.push({ kind: arg as RowKind, value: arg === "json" ? "{}" : "", idp: defaultIdp, q: "", group: "" });
  } else if (verb === "remove") {
    rows.splice(Number(arg), 1);
  }
  return draft;
}

/** A new policy's form: allow, one empty include row. */
export function emptyDraft(): Draft {
  return { name: "", decision: "allow", precedence: "", session_duration: "", include: [], exclude: [], require: [] };
}

/** A stored policy as a form: group rules become picker rows, rules without a row type stay as JSON. */
export async function draftFromPolicy(db: D1Database, p: StoredPolicy): Promise<Draft> {
  const toRow = async (rule: Rule): Promise<Row> => {
    const blank = { value: "", idp: "", q: "", group: "" };
    if ("everyone" in rule) return { kind: "everyone", ...blank };
    if ("email" in rule) return { kind: "email", ...blank, value: rule.email.email };
    if ("email_domain" in rule) return { kind: "email_domain", ...blank, value: rule.email_domain.domain };
    const found = await groupForRule(db, rule);
    if (found) return { kind: "group", ...blank, idp: found.idp, group: found.group.id };
    return { kind: "json", ...blank, value: JSON.stringify(rule) };
  };
  const rows = async (rules: Rule[]) => Promise.all(rules.map(toRow));
  return {
    name: p.name,
    decision: p.decision,
    precedence: String(p.precedence),
    session_duration: p.sessionDuration ?? "",
    include: await rows(p.include),
    exclude: await rows(p.exclude),
    require: await rows(p.require),
  };
}

/** The policy body the API takes, or the form's own problems (a group row without a group, bad JSON). */
export async function draftToBody(db: D1Database, idps: PickerIdp[], draft: Draft, editing: boolean): Promise<{ body: Record<string, unknown> } | { errors: string[] }> {
  const errors: string[] = [];
  const out: Record<SectionName, Rule[]> = { include: [], exclude: [], require: [] };
  for (const s of SECTIONS) {
    for (const [i, row] of draft[s].entries()) {
      const at = `${s}[${i}]`;
      if (row.kind === "everyone") out[s].push({ everyone: {} });
      else if (row.kind === "email") out[s].push({ email: { email: row.value.trim() } });
      else if (row.kind === "email_domain") out[s].push({ email_domain: { domain: row.value.trim() } });
      else if (row.kind === "json") {
        try {
          out[s].push(JSON.parse(row.value) as Rule);
        } catch {
          errors.push(`${at}: not valid JSON`);
        }
      } else {
        const idp = idps.find((x) => x.id === row.idp);
        const group = idp && row.group ? await groupById(db, idp.id, row.group) : null;
        if (!idp) errors.push(`${at}: pick a connection`);
        else if (!row.group) errors.push(`${at}: pick a SCIM group of "${idp.name}" (search, then choose one)`);
        else if (!group) errors.push(`${at}: that group is not (or no longer) in connection "${idp.name}"; search again`);
        else {
          const r = ruleForGroup(idp, group);
          if ("error" in r) errors.push(`${at}: ${r.error}`);
          else out[s].push(r.rule);
        }
      }
    }
  }
  if (errors.length > 0) return { errors };
  const body: Record<string, unknown> = { name: draft.name, decision: draft.decision, ...out };
  if (draft.precedence.trim() !== "") body.precedence = /^\d+$/.test(draft.precedence.trim()) ? Number(draft.precedence.trim()) : draft.precedence;
  if (draft.session_duration.trim() !== "") body.session_duration = draft.session_duration.trim();
  else if (editing) body.session_duration = null;
  return { body };
}

/** Per group row: the matches of its search (first PICKER_LIMIT) and its picked group, for rendering. */
export async function pickerData(db: D1Database, draft: Draft): Promise<Map<Row, { options: GroupOption[]; selected: GroupOption | null }>> {
  const out = new Map<Row, { options: GroupOption[]; selected: GroupOption | null }>();
  for (const s of SECTIONS) {
    for (const row of draft[s]) {
      if (row.kind !== "group" || !row.idp) continue;
      const [options, selected] = await Promise.all([searchGroups(db, row.idp, row.q), row.group ? groupById(db, row.idp, row.group) : null]);
      out.set(row, { options, selected });
    }
  }
  return out;
}

export interface BuilderProps {
  action: string;
  csrf: string;
  draft: Draft;
  idps: PickerIdp[];
  picks: Map<Row, { options: GroupOption[]; selected: GroupOption | null }>;
  errors: string[];
}

/** The policy builder form. Every button posts the whole form back; only "Save policy" saves. */
export function PolicyBuilder({ action, csrf, draft, idps, picks, errors }: BuilderProps) {
  return (
    <form method="post" action={action} data-testid="policy-form">
      <Csrf token={csrf} />
      <FormErrors heading="The policy was not saved:" messages={errors} />
      <label>
        Name <input name="name" value={draft.name} required data-testid="policy-name" />
      </label>
      <label>
        Decision{" "}
        <select name="decision" data-testid="policy-decision">
          {DECISIONS.map((d) => (
            <option value={d} selected={d === draft.decision}>
              {d}
            </option>
          ))}
        </select>
      </label>
      <label>
        Precedence <input name="precedence" value={draft.precedence} inputmode="numeric" placeholder="after the last policy" data-testid="policy-precedence" />
      </label>
      <label>
        Session duration <input name="session_duration" value={draft.session_duration} placeholder="the app's (e.g. 24h, 30m)" data-testid="policy-session-duration" />
      </label>
      {SECTIONS.map((s) => (
        <fieldset data-testid={`section-${s}`}>
          <legend>{SECTION_HELP[s]}</legend>
          {draft[s].length === 0 ? <p class="muted">No rules.</p> : null}
          <ol>
            {draft[s].map((row, i) => (
              <li data-testid={`rule-${s}-${i}`}>
                <input type="hidden" name={`${s}.${i}.kind`} value={row.kind} />
                <strong>{KIND_LABEL[row.kind]}</strong>{" "}
                {row.kind === "email" || row.kind === "email_domain" ? (
                  <label>
                    <span class="muted">{row.kind === "email" ? "Email address" : "Domain (after the @)"}</span>{" "}
                    <input name={`${s}.${i}.value`} value={row.value} data-testid={`rule-${s}-${i}-value`} />
                  </label>
                ) : null}
                {row.kind === "json" ? (
                  <label>
                    <span class="muted">Rule JSON</span> <textarea name={`${s}.${i}.value`} rows={2} cols={60}>{row.value}</textarea>
                  </label>
                ) : null}
                {row.kind === "group" ? (
                  <GroupPicker
                    name={`${s}.${i}`}
                    idps={idps}
                    idp={row.idp}
                    q={row.q}
                    selected={row.group}
                    selectedGroup={picks.get(row)?.selected ?? null}
                    options={picks.get(row)?.options ?? []}
                  />
                ) : null}
                <button type="submit" name="action" value={`remove:${s}:${i}`} formnovalidate data-testid={`remove-${s}-${i}`}>
                  Remove
                </button>
              </li>
            ))}
          </ol>
          <p>
            Add:{" "}
            {ROW_KINDS.map((k) => (
              <>
                <button type="submit" name="action" value={`add:${s}:${k}`} formnovalidate data-testid={`add-${s}-${k}`}>
                  {KIND_LABEL[k]}
                </button>{" "}
              </>
            ))}
          </p>
        </fieldset>
      ))}
      <p>
        <button type="submit" name="action" value="save" data-testid="policy-save">
          Save policy
        </button>
      </p>
    </form>
  );
}
