/**
 * The hot path's statements, sent on the pool directly.
 *
 * `@effect/sql` runs every statement through a span, a scope and its pooled
 * connection wrapper, which costs `put` a noticeable share of its CPU
 * (docs/scaling.md). Outside a transaction, a statement written with this
 * template is compiled as `@effect/sql` would and sent with `pg`'s own
 * `pool.query` on the same pool (so under the same statement deadline), and
 * fails with the same `SqlError`. Inside the caller's transaction, and on a
 * client this library did not build (no `Pool` in the context), it runs
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
 * statement object at all (docs/scaling.md).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type pg from "pg"
import * as Pool from "./pool.js"

/** A tagged template that runs its statement. */
export type Statement = <A extends object>(
  strings: TemplateStringsArray,
  ...args: Array<unknown>
) => Effect.Effect<ReadonlyArray<A>, SqlError>

/**
 * @since 0.1.0
 */
export interface Template extends Statement {
  /** The same, for a caller that knows it is outside a transaction: it does not look for one again. */
  readonly outsideTransaction: Statement
}

/** A template for statements of `client`, without its column renaming. */
export const make = (client: SqlClient.SqlClient): Effect.Effect<Template> =>
  Effect.map(Pool.of(client), (pool): Template => {
    const raw = client.withoutTransforms()
    const viaClient: Statement = (strings, ...args) => raw(strings, ...args)
    if (Option.isNone(pool)) return Object.assign(viaClient, { outsideTransaction: viaClient })
    const outsideTransaction: Statement = <A extends object>(strings: TemplateStringsArray, ...args: Array<unknown>) =>
      args.every(isPlainValue)
        ? send<A>(pool.value, textOf(strings), args)
        : Effect.suspend(() => send<A>(pool.value, ...raw<A>(strings, ...args).compile()))
    const template = <A extends object>(strings: TemplateStringsArray, ...args: Array<unknown>) =>
      Effect.flatMap(
        Effect.serviceOption(SqlClient.TransactionConnection),
        (transaction) => Option.isSome(transaction) ? raw<A>(strings, ...args) : outsideTransaction<A>(strings, ...args)
      )
    return Object.assign(template, { outsideTransaction })
  })

/** What the direct path sends for a template of plain values: its text and parameters (for the tests). */
export const compiled = (
  strings: TemplateStringsArray,
  args: ReadonlyArray<unknown>
): readonly [string, ReadonlyArray<unknown>] | undefined => args.every(isPlainValue) ? [textOf(strings), args] : undefined

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
