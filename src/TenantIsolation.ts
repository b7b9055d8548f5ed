/**
 * Tenant isolation in the database: an opt-in mode in which the library
 * connects as a runtime role that does not own the tables, and PostgreSQL's
 * row-level security (migration 0006) limits every statement to one workspace.
 *
 * In this mode every operation runs in a transaction whose first statement is
 * `SELECT set_config('docstore.workspace_id', <workspace>, true)`. The setting
 * is transaction-local, so a pooled connection never carries it to the next
 * transaction; a statement issued without it sees no row and can write none.
 * See docs/schema.md ("Tenant isolation") for the policies and the two roles.
 *
 * What it guards against: a query of the application's that forgets its
 * workspace, or names another. It is not a defence against arbitrary SQL run
 * as the runtime role: such SQL can set the workspace itself.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

/**
 * The transaction-local setting the policies read.
 *
 * @since 0.1.0
 */
export const setting = "docstore.workspace_id"

/**
 * Whether the library works in tenant isolation mode. Off unless a layer
 * turns it on; `Documents` and `DocumentChanges` read it once, when built.
 *
 * @since 0.1.0
 */
export class TenantIsolation extends Context.Reference<TenantIsolation>()("effect-docstore/TenantIsolation", {
  defaultValue: (): { readonly enabled: boolean } => ({ enabled: false })
}) {}

/**
 * Isolation mode was asked for, but the database would not enforce it for
 * the connected role (`message` says why). Nothing was done.
 *
 * @since 0.1.0
 */
export class TenantIsolationUnavailable extends Schema.TaggedError<TenantIsolationUnavailable>()(
  "TenantIsolationUnavailable",
  { message: Schema.String }
) {}

const protectedTables = ["files", "file_versions", "document_changes"] as const

/**
 * Checks that row-level security binds the connected role: the three tables
 * have it enabled (migration 0006), and the role is no superuser, has no
 * BYPASSRLS and does not own them (owners are exempt, as RLS is not forced).
 *
 * @since 0.1.0
 */
export const verify: Effect.Effect<void, TenantIsolationUnavailable | SqlError, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const [role] = yield* sql<{ name: string; superuser: boolean; bypassRls: boolean }>`
      SELECT rolname AS name, rolsuper AS superuser, rolbypassrls AS bypass_rls FROM pg_roles WHERE rolname = current_user`
    const tables = yield* sql<{ name: string; present: boolean; rowSecurity: boolean; owned: boolean }>`
      SELECT t.name, c.oid IS NOT NULL AS present, coalesce(c.relrowsecurity, false) AS row_security,
             coalesce(pg_has_role(current_user, c.relowner, 'USAGE'), false) AS owned
      FROM unnest(${protectedTables}::text[]) AS t(name) LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)`
    const problems = [
      ...(role!.superuser ? [`the role ${role!.name} is a superuser`] : []),
      ...(role!.bypassRls ? [`the role ${role!.name} has BYPASSRLS`] : []),
      ...tables.flatMap((table) =>
        !table.present
          ? [`there is no table ${table.name} (run migrate)`]
          : !table.rowSecurity
          ? [`${table.name} has no row-level security (run migrate: 0006_tenant_isolation)`]
          : table.owned
          ? [`the role ${role!.name} owns ${table.name} (or is a member of its owner)`]
          : []
      )
    ]
    if (problems.length > 0) {
      return yield* new TenantIsolationUnavailable({
        message: `tenant isolation would not be enforced: ${problems.join("; ")}. ` +
          "Connect as the runtime role (docs/schema.md, \"Tenant isolation\")."
      })
    }
  }
)

/**
 * Turns tenant isolation on, after checking (`verify`) that the database
 * enforces it for the connected role.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<TenantIsolation, TenantIsolationUnavailable | SqlError, SqlClient.SqlClient> = Layer
  .effect(TenantIsolation, Effect.as(verify, { enabled: true }))

/**
 * What the runtime role needs, and nothing more, as SQL statements for the
 * migration owner to run after `migrate` (see `grant`).
 *
 * - files: SELECT, INSERT, UPDATE (a write to an existing key), DELETE;
 * - file_versions: SELECT, INSERT (versions are immutable; deleting a
 *   document cascades as the owner);
 * - document_changes, document_feed: SELECT (the change log is written by
 *   its trigger as the owner, retention (`prune`) runs as the owner);
 * - document_consumers: SELECT, INSERT, UPDATE (durable consumers' checkpoints);
 * - api_tokens: SELECT (the HTTP API checks tokens; they are made and revoked as the owner).
 *
 * No sequence is used by the runtime role, and `effect_sql_migrations` stays out of its reach.
 *
 * @since 0.1.0
 */
export const grantStatements = (role: string, options: { readonly schema?: string | undefined } = {}): ReadonlyArray<string> => {
  const id = (name: string) => `"${name.replace(/"/g, "\"\"")}"`
  const schema = id(options.schema ?? "public")
  const to = id(role)
  return [
    `GRANT USAGE ON SCHEMA ${schema} TO ${to}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${schema}.files TO ${to}`,
    `GRANT SELECT, INSERT ON ${schema}.file_versions TO ${to}`,
    `GRANT SELECT ON ${schema}.document_changes, ${schema}.document_feed TO ${to}`,
    `GRANT SELECT, INSERT, UPDATE ON ${schema}.document_consumers TO ${to}`,
    `GRANT SELECT ON ${schema}.api_tokens TO ${to}`
  ]
}

/**
 * Runs `grantStatements` (connected as the migration owner).
 *
 * @since 0.1.0
 */
export const grant = (
  role: string,
  options: { readonly schema?: string | undefined } = {}
): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.forEach(grantStatements(role, options), (statement) => sql.unsafe(statement), {
      discard: true
    })))
