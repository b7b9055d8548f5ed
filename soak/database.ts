/**
 * The soak's connections: the library runtimes under load (built from the
 * public layers), and raw `pg` pools on the side for the checks and the
 * faults, which are not the library's and not ones the faults kill.
 */
import type { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"

export const storeLayer = (url: string, applicationName: string, statementTimeout?: Duration.DurationInput) =>
  Layer.mergeAll(
    Documents.layer,
    DocumentChanges.layer({ heartbeatInterval: Duration.seconds(1) })
  ).pipe(Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 12, applicationName, statementTimeout })))

export type Store = Documents.Documents | DocumentChanges.DocumentChanges | PgClient.PgClient | SqlClient.SqlClient

/** Runs an effect on one of the library runtimes ("processes"). */
export type Runtime = <A, E>(effect: Effect.Effect<A, E, Store>) => Effect.Effect<A, E>

/** Raw `pg` connections for checks and faults: not the library's, and not ones the faults kill. */
export const sideClient = (url: string, name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const pool = new pg.Pool({ connectionString: url, application_name: `docstore-soak ${name}`, max: 3 })
      pool.on("error", () => {})
      return pool
    }),
    (pool) => Effect.promise(() => pool.end().catch(() => undefined))
  )

/** A side query; a failure or one slower than `timeout` is a defect (the side connections are not under test). */
export const sideQuery = (timeout: Duration.Duration) =>
<Row extends Record<string, unknown>>(client: pg.Pool, text: string, params: Array<unknown> = []) =>
  Effect.tryPromise(() => client.query<Row>(text, params)).pipe(
    Effect.map((result) => result.rows),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`side query timed out: ${text.slice(0, 60)}`) }),
    Effect.orDie
  )
