/**
 * The `pg` pool under the library's client, as a service of the layer that
 * built it (`Database.layer`). The hot path (`put`'s statement, the wake-up
 * NOTIFY) sends on it directly, and the wake-up LISTEN connection is opened
 * with its connection options.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import pg from "pg"
import { clientWithDeadline, graceMillis } from "./deadlineClient.js"
import { types } from "./types.js"

/**
 * The pool `client` runs on. Carrying the client lets a service check that the
 * pool belongs to the `SqlClient` it was given (a layer may replace one).
 */
export class Pool extends Context.Tag("effect-docstore/Database/Pool")<Pool, {
  readonly pool: pg.Pool
  readonly client: SqlClient.SqlClient
}>() {}

/** The pool of `client`, if `Database.layer` built it. */
export const of = (client: SqlClient.SqlClient): Effect.Effect<Option.Option<pg.Pool>> =>
  Effect.map(
    Effect.serviceOption(Pool),
    Option.flatMap((registered) => registered.client === client ? Option.some(registered.pool) : Option.none())
  )

export interface Settings {
  readonly url: string
  readonly maxConnections: number
  readonly applicationName: string
  /** 0 turns a timeout off, as PostgreSQL spells it. */
  readonly connectMillis: number
  readonly statementMillis: number
  readonly idleInTransactionMillis: number
}

/** A pool with the project's conventions; fails at start-up, not at the first statement, when the server is unreachable. */
export const acquire = (settings: Settings) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const { connectMillis, idleInTransactionMillis, statementMillis } = settings
      const pool = new pg.Pool({
        connectionString: settings.url,
        max: settings.maxConnections,
        application_name: settings.applicationName,
        types,
        ...(connectMillis > 0 ? { connectionTimeoutMillis: connectMillis } : {}),
        ...(statementMillis > 0 ? { statement_timeout: statementMillis } : {}),
        ...(idleInTransactionMillis > 0 ? { idle_in_transaction_session_timeout: idleInTransactionMillis } : {}),
        keepAlive: true,
        Client: clientWithDeadline(statementMillis > 0 ? statementMillis + graceMillis(statementMillis) : 0)
      })
      // An idle connection that dies is removed by the pool; nothing to report.
      pool.on("error", () => {})
      return pool
    }),
    (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
  ).pipe(
    Effect.tap((pool) =>
      Effect.tryPromise({
        try: () => pool.query("SELECT 1"),
        catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
      })
    )
  )

/**
 * A plain client's options for a connection of its own (the wake-up LISTEN) to
 * the pool's server: everything the pool was given (the URL with its `sslmode`,
 * `options` and the rest, TLS settings, timeouts), but its own name.
 */
export const connectionOptions = (pool: pg.Pool, applicationName: string): pg.ClientConfig => {
  const { Client: _client, max: _max, ...options } = pool.options as pg.PoolConfig & { Client?: unknown }
  return { ...options, application_name: applicationName, keepAlive: true }
}
