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
 *
 * A statement whose interpolations are all plain values (no fragments or
 * helpers) compiles to its strings joined by `$1`, `$2`, ..., as `@effect/sql`
 * compiles it: that text is kept per call site (the template's strings
 * array), and the values are sent as they are, so the hot path builds no
 * statement object at all (about 10 µs a put, docs/scaling.md).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type pg from "pg"

const pools = new WeakMap<SqlClient.SqlClient, pg.Pool>()

/** Called by `Database.layer` for the client it builds on `pool`. */
export const register = (client: SqlClient.SqlClient, pool: pg.Pool): void => {
  pools.set(client, pool)
}

/** A template for statements of `client`, without its column renaming. */
export const make = (client: SqlClient.SqlClient) => {
  const raw = client.withoutTransforms()
  const pool = pools.get(client)
  return <A extends object>(strings: TemplateStringsArray, ...args: Array<unknown>): Effect.Effect<ReadonlyArray<A>, SqlError> =>
    pool === undefined ? raw<A>(strings, ...args) : Effect.flatMap(
      Effect.serviceOption(SqlClient.TransactionConnection),
      (transaction) =>
        Option.isSome(transaction)
          ? raw<A>(strings, ...args)
          : args.every(isPlainValue)
          ? send(pool, textOf(strings), args)
          : Effect.suspend(() => send(pool, ...raw<A>(strings, ...args).compile()))
    )
}

/** What the direct path sends for a template of plain values: its text and parameters (for the tests). */
export const compiled = (strings: TemplateStringsArray, args: ReadonlyArray<unknown>): readonly [string, ReadonlyArray<unknown>] | undefined =>
  args.every(isPlainValue) ? [textOf(strings), args] : undefined

// What @effect/sql binds as a parameter as it is; anything else (fragments, helpers) it compiles.
const isPlainValue = (value: unknown) =>
  value === null || typeof value !== "object" || value instanceof Date || value instanceof Uint8Array

const texts = new WeakMap<TemplateStringsArray, string>()
const textOf = (strings: TemplateStringsArray) => {
  let text = texts.get(strings)
  if (text === undefined) {
    text = strings.reduce((sql, part, i) => `${sql}$${i}${part}`)
    texts.set(strings, text)
  }
  return text
}

const send = <A extends object>(pool: pg.Pool, text: string, params: ReadonlyArray<unknown>) =>
  Effect.async<ReadonlyArray<A>, SqlError>((resume) => {
    pool.query(text, params as Array<unknown>, (cause, result) => {
      resume(
        cause
          ? Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
          : Effect.succeed(result.rows as ReadonlyArray<A>)
      )
    })
  })
