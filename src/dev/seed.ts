/**
 * Bulk seeding for benchmarks, inside D1 with recursive CTEs (one statement per chunk, no row
 * shipped over the wire). Seeded users are `<prefix>-0000001…` (default prefix `bench-u`; user ids are
 * global keys, so seeds into several connections use distinct prefixes); groups get the first N users.
 */
const CHUNK = 10_000;

const USER_JSON = `json_object('schemas', json_array('urn:ietf:params:scim:schemas:core:2.0:User'),
  'userName', printf('user%07d@bench.example', n), 'displayName', printf('Bench User %07d', n),
  'name', json_object('givenName', 'Bench', 'familyName', printf('User%07d', n)),
  'emails', json_array(json_object('value', printf('user%07d@bench.example', n), 'type', 'work', 'primary', json('true'))))`;

/** Seeds `count` users (ids from `from`) into a connection. */
export async function seedUsers(db: D1Database, idpId: string, from: number, count: number, prefix = "bench-u"): Promise<void> {
  const now = new Date().toISOString();
  for (let start = from; start < from + count; start += CHUNK) {
    const end = Math.min(from + count - 1, start + CHUNK - 1);
    const seq = "WITH RECURSIVE seq(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM seq WHERE n < ?)";
    await db.batch([
      db
        .prepare(
          `${seq} INSERT INTO users (id, idp_id, external_id, user_name, user_name_lower, display_name, given_name, family_name, email, active, resource, version, created_at, updated_at)
           SELECT ? || printf('-%07d', n), ?, ? || printf('-ext-%07d', n), printf('user%07d@bench.example', n), printf('user%07d@bench.example', n),
                  printf('Bench User %07d', n), 'Bench', printf('User%07d', n), printf('user%07d@bench.example', n), 1, ${USER_JSON}, 1, ?, ? FROM seq`,
        )
        .bind(start, end, prefix, idpId, prefix, now, now),
      db
        .prepare(
          `${seq} INSERT INTO user_emails (user_id, idp_id, position, value, value_lower, type, is_primary)
           SELECT ? || printf('-%07d', n), ?, 0, printf('user%07d@bench.example', n), printf('user%07d@bench.example', n), 'work', 1 FROM seq`,
        )
        .bind(start, end, prefix, idpId),
    ]);
  }
}

/** Creates a group whose members are bench users 1…size. */
export async function seedGroup(db: D1Database, idpId: string, displayName: string, size: number, prefix = "bench-u"): Promise<string> {
  const id = crypto.randomUUID();
  const now = new Date().toISOString();
  await db
    .prepare(
      "INSERT INTO groups (id, idp_id, external_id, display_name, display_name_lower, resource, version, created_at, updated_at) VALUES (?, ?, NULL, ?, ?, ?, 1, ?, ?)",
    )
    .bind(id, idpId, displayName, displayName.toLowerCase(), JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName }), now, now)
    .run();
  for (let start = 1; start <= size; start += CHUNK) {
    const end = Math.min(size, start + CHUNK - 1);
    await db
      .prepare(
        `WITH RECURSIVE seq(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
         INSERT INTO group_members (group_id, user_id) SELECT ?, ? || printf('-%07d', n) FROM seq`,
      )
      .bind(start, end, id, prefix)
      .run();
  }
  return id;
}

/**
 * Seeds `count` groups (numbers from `from`) named `<name> NNNNNN`, ids `<idp>-g-NNNNNN`, each with `size`
 * members: bench users ((n - 1) * size + k) mod `pool` + 1, so memberships spread over the first `pool` users.
 */
export async function seedGroups(db: D1Database, idpId: string, opts: { from: number; count: number; size: number; pool: number; name: string; prefix?: string }): Promise<void> {
  const { from, count, size, pool, name, prefix = "bench-u" } = opts;
  const now = new Date().toISOString();
  const seq = "WITH RECURSIVE seq(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM seq WHERE n < ?)";
  for (let start = from; start < from + count; start += CHUNK) {
    const end = Math.min(from + count - 1, start + CHUNK - 1);
    const statements = [
      db
        .prepare(
          `${seq} INSERT INTO groups (id, idp_id, external_id, display_name, display_name_lower, resource, version, created_at, updated_at)
           SELECT ? || printf('-g-%06d', n), ?, ? || printf('-gext-%06d', n), printf('%s %06d', ?, n), lower(printf('%s %06d', ?, n)),
                  json_object('schemas', json_array('urn:ietf:params:scim:schemas:core:2.0:Group'), 'displayName', printf('%s %06d', ?, n)), 1, ?, ? FROM seq`,
        )
        .bind(start, end, idpId, idpId, idpId, name, name, name, now, now),
    ];
    if (size > 0) {
      statements.push(
        db
          .prepare(
            `${seq}, k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ? - 1)
             INSERT OR IGNORE INTO group_members (group_id, user_id) SELECT ? || printf('-g-%06d', n), ? || printf('-%07d', ((n - 1) * ? + i) % ? + 1) FROM seq, k`,
          )
          .bind(start, end, size, idpId, prefix, size, pool),
      );
    }
    await db.batch(statements);
  }
}
