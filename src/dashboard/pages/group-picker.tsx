// The SCIM-group dropdown of the Access and Gateway policy builders: per connection, searched ON THE
// SERVER (a prefix range over the (idp_id, display_name_lower) index, 20 at a time), so no page or
// JSON answer ever holds the whole directory. Without JavaScript, "Find" re-renders the form with the
// first matches; with it, a few lines of inline script refresh the <select> as the admin types.
import { Hono } from "hono";
import { listScimGroups } from "../../admin/directory-views";
import { getIdentityProvider } from "../../admin/identity-providers";
import { database } from "../../db";
import { envelope } from "../../http/api-error";
import type { Rule } from "../../access/policy/rules";
import type { DashboardEnv } from "../context";

/** At most this many groups per search answer (and per rendered dropdown). */
export const PICKER_LIMIT = 20;

/** A connection as the picker lists it. */
export interface PickerIdp {
  id: string;
  name: string;
  type: string;
}

/** One dropdown entry: the SCIM group's own id, its displayName and externalId. */
export interface GroupOption {
  id: string;
  display_name: string;
  external_id: string | null;
}

/** Every connection (a handful per deployment), oldest first. */
export async function pickerIdps(db: D1Database): Promise<PickerIdp[]> {
  return (await db.prepare("SELECT id, name, type FROM identity_providers ORDER BY created_at, id").all<PickerIdp>()).results;
}

/** The first PICKER_LIMIT groups of `idpId` whose displayName starts with `search` (case-insensitive). */
export async function searchGroups(db: D1Database, idpId: string, search: string): Promise<GroupOption[]> {
  const url = new URL("https://picker.invalid/");
  url.searchParams.set("per_page", String(PICKER_LIMIT));
  if (search.trim() !== "") url.searchParams.set("search", search.trim());
  const { result } = await listScimGroups(db, idpId, url);
  return result.map((g) => ({ id: String(g.cf_resource_id), display_name: String(g.display_name), external_id: (g.idp_resource_id as string | null) ?? null }));
}

/** One SCIM group of connection `idpId` by its id (null when it is not that connection's: tenant isolation). */
export async function groupById(db: D1Database, idpId: string, groupId: string): Promise<GroupOption | null> {
  return db
    .prepare("SELECT id, display_name, external_id FROM groups WHERE id = ? AND idp_id = ?")
    .bind(groupId, idpId)
    .first<GroupOption>();
}

/**
 * The Access rule that names a picked group, in the selector the connection's type uses: Entra ID
 * rules carry the group's object id (Entra sends it as the SCIM externalId), Okta rules the group
 * name, generic OIDC rules the `groups` claim value (the displayName). Returns an error message when
 * the group cannot be named that way (an Entra group provisioned without externalId).
 */
export function ruleForGroup(idp: PickerIdp, group: GroupOption): { rule: Rule } | { error: string } {
  if (idp.type === "azureAD") {
    if (!group.external_id) return { error: `the SCIM group "${group.display_name}" has no externalId (Entra's object id), so an azureAD rule cannot name it` };
    return { rule: { azureAD: { id: group.external_id, identity_provider_id: idp.id } } };
  }
  if (idp.type === "okta") return { rule: { okta: { name: group.display_name, identity_provider_id: idp.id } } };
  return { rule: { oidc: { claim_name: "groups", claim_value: group.display_name, identity_provider_id: idp.id } } };
}

/** The SCIM group a stored group rule names, for re-opening a policy in the builder (null: not found). */
export async function groupForRule(db: D1Database, rule: Rule): Promise<{ idp: string; group: GroupOption } | null> {
  let stmt: D1PreparedStatement;
  let idp: string;
  if ("azureAD" in rule) {
    idp = rule.azureAD.identity_provider_id;
    stmt = db.prepare("SELECT id, display_name, external_id FROM groups WHERE idp_id = ? AND external_id = ? COLLATE NOCASE LIMIT 1").bind(idp, rule.azureAD.id);
  } else if ("okta" in rule || "oidc" in rule) {
    idp = "okta" in rule ? rule.okta.identity_provider_id : rule.oidc.identity_provider_id;
    const name = "okta" in rule ? rule.okta.name : rule.oidc.claim_value;
    stmt = db.prepare("SELECT id, display_name, external_id FROM groups WHERE idp_id = ? AND display_name_lower = ? LIMIT 1").bind(idp, name.toLowerCase());
  } else {
    return null;
  }
  const group = await stmt.first<GroupOption>();
  return group ? { idp, group } : null;
}

/** Where the page script asks for matches (under /dashboard, with the admin's session). */
export const PICKER_SEARCH_PATH = "/dashboard/access/scim-groups";

/**
 * `GET /dashboard/access/scim-groups?idp=<id>&search=<prefix>`: the dropdown's JSON (at most 20; the
 * scripts' equivalent is `GET /api/v1/access/identity_providers/:id/scim/groups?search=&per_page=20`).
 */
export const pickerRoutes = new Hono<DashboardEnv>();
pickerRoutes.get("/scim-groups", async (c) => {
  const idp = await getIdentityProvider(database(c.env), c.req.query("idp") ?? "");
  const result = await searchGroups(c.env.DB, idp.id, c.req.query("search") ?? "");
  return c.json(envelope(result, { result_info: { count: result.length, per_page: PICKER_LIMIT } }));
});

export interface GroupPickerProps {
  /** Form field prefix: the picker posts `<name>.idp`, `<name>.q` and `<name>.group`. */
  name: string;
  idps: PickerIdp[];
  idp: string;
  q: string;
  /** The picked group id (kept as the first option even when the search does not list it). */
  selected: string;
  selectedGroup?: GroupOption | null;
  options: GroupOption[];
  /** Label of the picker (for assistive technology). */
  label?: string;
}

/** A connection select, a search box with a server-side "Find", and the select of matching groups. */
export function GroupPicker(p: GroupPickerProps) {
  const options = p.selectedGroup && !p.options.some((o) => o.id === p.selectedGroup?.id) ? [p.selectedGroup, ...p.options] : p.options;
  return (
    <fieldset class="picker" data-picker data-url={PICKER_SEARCH_PATH} data-testid={`group-picker-${p.name}`}>
      <legend>{p.label ?? "SCIM group"}</legend>
      <label>
        Connection{" "}
        <select name={`${p.name}.idp`} data-picker-idp data-testid="group-idp">
          {p.idps.map((i) => (
            <option value={i.id} selected={i.id === p.idp}>{`${i.name} (${i.type})`}</option>
          ))}
        </select>
      </label>
      <label>
        Search groups (name starts with){" "}
        <input type="search" name={`${p.name}.q`} value={p.q} autocomplete="off" data-picker-q data-testid="group-search" />
      </label>{" "}
      <button type="submit" name="action" value={`find:${p.name}`} formnovalidate data-testid="group-find">
        Find
      </button>
      <label>
        Group{" "}
        <select name={`${p.name}.group`} data-picker-select data-testid="group-select">
          <option value="">— pick a group —</option>
          {options.map((o) => (
            <option value={o.id} selected={o.id === p.selected}>
              {o.display_name}
            </option>
          ))}
        </select>
      </label>
      <span class="muted">{`Up to ${PICKER_LIMIT} matches; type more of the name to narrow.`}</span>
    </fieldset>
  );
}

/**
 * Progressive enhancement: as the admin types (or changes the connection), ask the server for the
 * first matches and refill the select. Later answers win only if they belong to the latest keystroke.
 */
const PICKER_JS = `
document.addEventListener("input",p);document.addEventListener("change",function(e){if(e.target.matches("[data-picker-idp]"))p(e)});
function p(e){var t=e.target;if(!t.matches("[data-picker-q],[data-picker-idp]"))return;var b=t.closest("[data-picker]");
var n=String(Number(b.dataset.seq||0)+1);b.dataset.seq=n;clearTimeout(b._t);b._t=setTimeout(function(){
var u=b.dataset.url+"?idp="+encodeURIComponent(b.querySelector("[data-picker-idp]").value)+"&search="+encodeURIComponent(b.querySelector("[data-picker-q]").value);
fetch(u,{credentials:"same-origin",headers:{accept:"application/json"}}).then(function(r){return r.ok?r.json():null}).then(function(j){
if(!j||b.dataset.seq!==n)return;var s=b.querySelector("[data-picker-select]");var k=s.value;s.replaceChildren(new Option("— pick a group —",""));
j.result.forEach(function(g){s.add(new Option(g.display_name,g.id,false,g.id===k))})})},150)}
`;

/** The picker's script, once per page. */
export function PickerScript() {
  return <script dangerouslySetInnerHTML={{ __html: PICKER_JS }} />;
}
