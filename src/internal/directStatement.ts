/**
 * The hot path's statements, sent on the pool directly.
 *
 * `@effect/sql` runs every statement through a span, a scope and its pooled
 * connection wrapper: for `put`'s one statement about 90 µs of Node CPU per
 * write here, a fifth of the write (docs/scaling.md). Outside a transaction,
 * a statement written with this template is compiled as `@effect/sql` would
 * and sent with `pg`'s own `pool.query` on the same pool (so under the same
 * statement deadline), and fails with the same `SqlError`. Inside the
 * caller's transaction, and on a client this library did not build, it runs
 * through `@effect/sql` like any other statement. Rows come back as the
 * server names the columns, both ways. Interrupting a statement sent here
 * stops the wait, not the statement (`@effect/sql` would also cancel it on
 * the server): a write may commit after its caller gave up, as it may anyway
 * when a cancel arrives late.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type pg from "pg"

const pools = new WeakMap<SqlClient.SqlClient, pg.Pool>()

/** Called by `Database.layer` for the client it builds on `pool`. */
export const register = (client: SqlClient.SqlClient, pool: pg.Pool): void => {
  pools.set(client, pool)
}

/** The pool `Database.layer` built `client` on (the feed guard re-checks when it opens a connection). */
export const poolOf = (client: SqlClient.SqlClient): pg.Pool | undefined => pools.get(client)

/** A template for statements of `client`, without its column renaming. */
export const make = (client: SqlClient.SqlClient) => {
  const raw = client.withoutTransforms()
  const pool = pools.get(client)
  return <A extends object>(strings: TemplateStringsArray, ...args: Array<unknown>): Effect.Effect<ReadonlyArray<A>, SqlError> => {
    const statement = raw<A>(strings, ...args)
    return pool === undefined ? statement : Effect.flatMap(
      Effect.serviceOption(SqlClient.TransactionConnection),
      (transaction) => Option.isSome(transaction) ? statement : send(pool, statement)
    )
  }
}

const send = <A extends object>(pool: pg.Pool, statement: Statement.Statement<A>) =>
  Effect.async<ReadonlyArray<A>, SqlError>((resume) => {
    const [text, params] = statement.compile()
    pool.query(text, params as Array<unknown>, (cause, result) => {
      resume(
        cause
          ? Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
          : Effect.succeed(result.rows as ReadonlyArray<A>)
      )
    })
  })
