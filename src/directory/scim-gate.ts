import { checkSecret, connectionStatement, type ScimAuthOutcome } from "../auth/scim-secret";
import { scimErrors } from "../scim/errors";
import type { IdentityProviderRow } from "../db";

/**
 * Authentication that rides along with the request's first read.
 *
 * A SCIM request must be checked against the secret hash D1 holds NOW (no isolate may accept a
 * rotated, disabled or deleted connection's old secret), yet a second sequential D1 round trip per
 * request would halve read throughput. So the directory sees D1 through this gate: its first
 * read-only operation is sent as `batch([connection row, ...statements])`, one round trip and one
 * snapshot, and the secret is compared in constant time BEFORE any result is handed back.
 *
 * Invariants (tested in test/integration/scim-auth-gate.test.ts):
 * - no D1 result reaches the caller before the secret matched;
 * - a write, `exec`, a raw statement, or any other binding (Durable Objects, the Queue) is only
 *   reachable after the secret matched: writes first authenticate in a round trip of their own, and
 *   the `env` the directory gets throws on binding access until then;
 * - connection settings other than `id` (`user_deprovision`, `identity_update_behavior`, …) are
 *   read from the verified row of THIS request, so an admin change applies to the next request;
 * - a failed check is sticky for the rest of the request.
 */
export class ScimAuthGate {
  /** D1 as the directory sees it during this request. */
  readonly db: D1Database;
  /** The connection as the directory sees it: `id` at once, every other field once authenticated. */
  readonly idp: IdentityProviderRow;
  #outcome: ScimAuthOutcome | undefined;
  #standalone: Promise<ScimAuthOutcome> | undefined;

  constructor(
    readonly raw: D1Database,
    readonly idpId: string,
    private readonly presented: string | undefined,
  ) {
    this.db = new GatedD1(this) as unknown as D1Database;
    this.idp = connectionView(this);
  }

  /** Whether THIS request's secret matched a SCIM-enabled connection. */
  get authorized(): boolean {
    return isAuthorized(this.#outcome);
  }

  /** The verified connection row; throws until the secret matched. */
  verifiedRow(): IdentityProviderRow {
    if (!isAuthorized(this.#outcome)) throw new Error("SCIM connection settings read before authentication");
    return this.#outcome!.idp!;
  }

  /** Records one check of a freshly read row; any failure wins over an earlier success. */
  record(raw: Record<string, unknown> | null | undefined): ScimAuthOutcome {
    const outcome = checkSecret(this.presented, raw);
    if (this.#outcome === undefined || !isAuthorized(outcome)) this.#outcome = outcome;
    return this.#outcome;
  }

  /** The outcome of this request's check, reading D1 on its own only if no read has carried it yet. */
  async settle(): Promise<ScimAuthOutcome> {
    if (this.#outcome) return this.#outcome;
    this.#standalone ??= connectionStatement(this.raw, this.idpId)
      .first<Record<string, unknown>>()
      .then((row) => this.record(row));
    return this.#standalone;
  }

  /** Resolves once authenticated; throws a 401 otherwise (the middleware renders the final answer). */
  async ensure(): Promise<void> {
    if (!isAuthorized(await this.settle())) throw unauthenticated();
  }

  /** Read-only statements: authenticated in the same batch (one round trip) unless already done. */
  async read(statements: D1PreparedStatement[]): Promise<D1Result[]> {
    if (this.authorized) return this.raw.batch(statements);
    if (this.#outcome) throw unauthenticated();
    const [auth, ...results] = await this.raw.batch([connectionStatement(this.raw, this.idpId), ...statements]);
    if (!isAuthorized(this.record(auth?.results[0] as Record<string, unknown> | undefined))) throw unauthenticated();
    return results;
  }

  /** The Worker's env with every binding (D1, Durable Objects, Queue, limiter) locked until authenticated. */
  env(env: Env): Env {
    return new Proxy(env, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value === "object" && value !== null && !this.authorized) {
          throw new Error(`binding ${String(prop)} used before SCIM authentication`);
        }
        return value;
      },
    });
  }
}

function isAuthorized(outcome: ScimAuthOutcome | undefined): boolean {
  return outcome !== undefined && outcome.valid && outcome.idp?.scimEnabled === true;
}

function unauthenticated() {
  return scimErrors.unauthorized("The bearer token is missing or invalid for this identity provider");
}

const READ_ONLY_START = /^\s*(select|with)\b/i;
/** Conservative: a read that merely mentions one of these words pays a separate auth round trip. */
const WRITE_WORD = /\b(insert|update|delete|replace|upsert|create|drop|alter|attach|detach|pragma|vacuum|reindex|analyze|returning)\b/i;

/** Whether a statement can only read. Misjudging a read as a write costs a round trip, never safety. */
export function isReadOnlySql(sql: string): boolean {
  return READ_ONLY_START.test(sql) && !WRITE_WORD.test(sql);
}

/** Connection fields other than `id`, all served from the verified row. */
const GUARDED_FIELDS = ["name", "type", "config", "clientSecretCiphertext", "scimEnabled", "scimSecretHash", "userDeprovision", "seatDeprovision", "identityUpdateBehavior", "createdAt", "updatedAt"] as const;
// Compile-time check that the list above covers every column (a new column must be added here).
type Unlisted = Exclude<keyof IdentityProviderRow, (typeof GUARDED_FIELDS)[number] | "id">;
const everyFieldListed: [Unlisted] extends [never] ? true : never = true;
void everyFieldListed;

function connectionView(gate: ScimAuthGate): IdentityProviderRow {
  const view: Record<string, unknown> = { id: gate.idpId };
  for (const field of GUARDED_FIELDS) Object.defineProperty(view, field, { enumerable: true, get: () => gate.verifiedRow()[field] });
  return view as IdentityProviderRow;
}

/** D1 seen through the gate (only what the directory uses: prepare, batch, exec). */
class GatedD1 {
  constructor(private readonly gate: ScimAuthGate) {}

  prepare(sql: string): GatedStatement {
    return new GatedStatement(this.gate, isReadOnlySql(sql), this.gate.raw.prepare(sql));
  }

  async batch(statements: D1PreparedStatement[]): Promise<D1Result[]> {
    const real = statements.map((s) => (s instanceof GatedStatement ? s.real : s));
    // A statement not prepared through the gate is of unknown kind: treated as a write.
    if (statements.every((s) => s instanceof GatedStatement && s.readOnly)) return this.gate.read(real);
    await this.gate.ensure();
    return this.gate.raw.batch(real);
  }

  async exec(query: string): Promise<D1ExecResult> {
    await this.gate.ensure();
    return this.gate.raw.exec(query);
  }

  withSession(): never {
    throw new Error("D1 sessions are not available on the SCIM request database");
  }

  dump(): never {
    throw new Error("dump is not available on the SCIM request database");
  }
}

/** A prepared statement whose reads carry the auth check and whose writes wait for it. */
class GatedStatement {
  constructor(
    private readonly gate: ScimAuthGate,
    readonly readOnly: boolean,
    readonly real: D1PreparedStatement,
  ) {}

  bind(...values: unknown[]): GatedStatement {
    return new GatedStatement(this.gate, this.readOnly, this.real.bind(...values));
  }

  async first(column?: string): Promise<unknown> {
    return this.#run(
      () => (column === undefined ? this.real.first() : this.real.first(column)),
      (r) => {
        const row = (r.results[0] as Record<string, unknown> | undefined) ?? null;
        return column === undefined ? row : (row?.[column] ?? null);
      },
    );
  }

  async all(): Promise<D1Result> {
    return this.#run(() => this.real.all(), (r) => r);
  }

  async run(): Promise<D1Result> {
    return this.#run(() => this.real.run(), (r) => r);
  }

  async raw(options?: { columnNames?: boolean }): Promise<unknown> {
    await this.gate.ensure();
    return options?.columnNames ? this.real.raw({ columnNames: true }) : this.real.raw();
  }

  async #run<T>(direct: () => Promise<T>, fromBatch: (r: D1Result) => T): Promise<T> {
    if (this.gate.authorized) return direct();
    if (!this.readOnly) {
      await this.gate.ensure();
      return direct();
    }
    const [result] = await this.gate.read([this.real]);
    return fromBatch(result!);
  }
}
