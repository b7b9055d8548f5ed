/**
 * A failed COMMIT or ROLLBACK is a defect in `@effect/sql`'s `withTransaction`;
 * a lost connection makes both fail. Here they are `SqlError`s: after a failed
 * ROLLBACK the transaction's own failure is kept (the server rolls back a
 * transaction whose connection is gone); a COMMIT that got no answer says
 * that its outcome is unknown.
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import pg from "pg"

export const commitOutcomeUnknown = "The connection was lost during COMMIT: the transaction may or may not have committed"

export const typedTransactionEnds = (client: PgClient.PgClient): PgClient.PgClient => {
  const withTransaction = client.withTransaction
  const typed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
    Effect.suspend(() => {
      let body: Exit.Exit<A, E> | undefined
      return withTransaction(Effect.onExit(effect, (exit) => Effect.sync(() => (body = exit)))).pipe(
        Effect.catchAllDefect((defect): Effect.Effect<A, E | SqlError> => {
          if (!(defect instanceof SqlError)) return Effect.die(defect)
          if (body !== undefined && Exit.isFailure(body)) return body
          if (body === undefined) return Effect.fail(defect)
          // The server's answer (a refused COMMIT rolled back), or no answer at all.
          const answered = defect.cause instanceof pg.DatabaseError
          return Effect.fail(answered ? defect : new SqlError({ cause: defect.cause, message: commitOutcomeUnknown }))
        })
      )
    })
  ;(client as { withTransaction: unknown }).withTransaction = typed
  return client
}

/** Marks the transaction's connection exempt from the client-side deadline while `effect` runs. */
export const exemptFromDeadline = <A, E, R>(connection: unknown, effect: Effect.Effect<A, E, R>) => {
  // The connection of @effect/sql-pg's transaction holds its pg client as `pg`.
  const client = (connection as { readonly pg?: unknown }).pg as { exempt?: boolean } | undefined
  if (client === undefined || typeof client.exempt !== "boolean") return effect
  return Effect.acquireUseRelease(
    Effect.sync(() => (client.exempt = true)),
    () => effect,
    () => Effect.sync(() => (client.exempt = false))
  )
}
