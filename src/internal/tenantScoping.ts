/**
 * How the services scope their statements to a workspace under tenant
 * isolation (`TenantIsolation`): a transaction whose first statement sets the
 * workspace the row-level security policies read.
 */
import type { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { setting } from "../TenantIsolation.js"

/**
 * How the services scope their statements to a workspace.
 *
 */
export interface Scoping {
  readonly enabled: boolean
  /** A transaction; when enabled, its first statement sets the workspace. */
  readonly transaction: (
    workspaceId: string
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
  /** When enabled, as `transaction`; when not, the effect as it is (no transaction, nothing added). */
  readonly scoped: (
    workspaceId: string
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
}

/**
 */
export const scoping = (sql: SqlClient.SqlClient, enabled: boolean): Scoping => {
  if (!enabled) return { enabled, transaction: () => sql.withTransaction, scoped: () => (effect) => effect }
  const transaction = (workspaceId: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    sql.withTransaction(Effect.zipRight(sql`SELECT set_config(${setting}, ${workspaceId}, true)`, effect))
  // withTransaction makes a failed COMMIT a defect; for what would be one statement without
  // isolation, it is that statement's error, as it would be without the transaction.
  const scoped = (workspaceId: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.catchSomeDefect(
      transaction(workspaceId)(effect),
      (defect) => defect instanceof SqlError ? Option.some(Effect.fail(defect)) : Option.none()
    )
  return { enabled, transaction, scoped }
}
