/**
 * What every documents operation works with, built once per layer, and the
 * helpers they share: row decoding, the not-found error, the document lookup,
 * and the boundary that turns database failures into typed errors.
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Document } from "../../Document.js"
import { DatabaseError, DocumentNotFound, type FeedDiverged } from "../../Errors.js"
import * as TenantIsolation from "../../TenantIsolation.js"
import * as TenantScoping from "../tenantScoping.js"
import { Version } from "../../Version.js"
import * as FeedGuard from "../feed/guard.js"
import * as DirectStatement from "../pg/directStatement.js"
import * as Wakeup from "../pg/wakeup.js"
import { databaseError } from "../sqlError.js"

export interface Store {
  readonly sql: SqlClient.SqlClient
  /** For put's write: sent on the pool directly outside a transaction, its row read as PostgreSQL names the columns. */
  readonly direct: DirectStatement.Template
  /** Tenant isolation: each operation's statements run with its workspace set; when off, nothing is added. */
  readonly isolation: TenantScoping.Scoping
  /** After each commit, a hint for change-feed tails in this and other processes. */
  readonly wakeup: Wakeup.Notifier
  /** Writes fail with FeedDiverged on a database copied into another cluster (src/FeedGuard.ts); cached. */
  readonly guard: Effect.Effect<void, FeedDiverged | SqlError>
}

export const make: Effect.Effect<Store, never, SqlClient.SqlClient | Scope.Scope> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return {
    sql,
    direct: yield* DirectStatement.make(sql),
    isolation: TenantScoping.scoping(sql, (yield* TenantIsolation.TenantIsolation).enabled),
    wakeup: yield* Wakeup.makeNotifier,
    guard: (yield* FeedGuard.of(sql)).guard
  }
})

// A row that does not decode is a bug of ours: a defect, not an error for callers.
export const decodeDocument = (row: unknown) => Effect.orDie(Schema.decodeUnknown(Document)(row))
export const decodeVersion = (row: unknown) => Effect.orDie(Schema.decodeUnknown(Version)(row))

export const notFound = (documentId: string) =>
  new DocumentNotFound({ documentId, message: `no document ${documentId} in this workspace` })

export const documentRow = (store: Store, workspaceId: string, documentId: string) =>
  store.sql`SELECT * FROM files WHERE id = ${documentId} AND workspace_id = ${workspaceId}`.pipe(
    Effect.flatMap((rows) => rows.length === 0 ? Effect.fail(notFound(documentId)) : decodeDocument(rows[0]))
  )

/** Database failures reach callers as typed errors, never as defects. */
export const boundary = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, SqlError> | DatabaseError, R> =>
  Effect.mapError(effect, (error) => error instanceof SqlError ? databaseError(error) : error as Exclude<E, SqlError>).pipe(
    // @effect/sql's withTransaction turns a failed COMMIT or ROLLBACK (the connection died) into a defect.
    Effect.catchSomeDefect((defect) =>
      defect instanceof SqlError
        ? Option.some(Effect.fail(
          new DatabaseError({
            message: `${databaseError(defect).message} (while ending the transaction: the write may or may not ` +
              `have been applied; retrying it with the same version id is safe)`
          })
        ))
        : Option.none()
    )
  )
