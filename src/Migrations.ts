/**
 * Runs the migration history in `migrations/` with `@effect/sql`'s Migrator.
 *
 * Everything pending runs in one transaction, behind a transaction-level
 * advisory lock taken before the Migrator creates its table: a concurrent
 * `migrate` waits for this one and then finds nothing pending, and a failing
 * step leaves the database exactly as it was (migrations table included).
 *
 * @since 0.1.0
 */
import { Migrator, SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Record from "effect/Record"
import * as Schema from "effect/Schema"
import { migrations as history } from "../migrations/index.js"
import * as Database from "./Database.js"

/** The Migrator's bookkeeping table. */
const table = "effect_sql_migrations"

// pg_advisory_xact_lock key: "docstore" spelled in ASCII, truncated to int8.
const lockKey = 0x646f6373746f7265n

/**
 * A migration step failed; everything pending was rolled back.
 *
 * @since 0.1.0
 */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>()("MigrationFailed", {
  migration: Schema.String,
  message: Schema.String
}) {}

/**
 * A migration, by the key `<id>_<name>` its file has.
 *
 * @since 0.1.0
 */
export type History = Readonly<Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>>>

/**
 * @since 0.1.0
 */
export interface Applied {
  readonly migration: string
  readonly millis: number
}

/**
 * @since 0.1.0
 */
export interface RunOptions {
  /** Replace the shipped history (tests inject failing steps with it). */
  readonly migrations?: History | undefined
  /** Called as each step finishes, before the transaction commits. */
  readonly onApplied?: ((applied: Applied) => Effect.Effect<void>) | undefined
}

/** `0001_legacy_baseline` from the Migrator's (1, "legacy_baseline"). */
const keyOf = (id: number, name: string): string => `${String(id).padStart(4, "0")}_${name}`

const messageOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error && error._tag === "SqlError") {
    const database = (error as { cause?: { message?: string; detail?: string } }).cause
    const detail = database?.detail ? ` (${database.detail})` : ""
    return database?.message ? `${database.message}${detail}` : String((error as unknown as { message: unknown }).message)
  }
  if (error instanceof Error) return error.message
  return String(error)
}

const describe = (cause: Cause.Cause<unknown>): string => messageOf(Cause.squash(cause))

const instrument = (migrations: History, onApplied: RunOptions["onApplied"]): History =>
  Record.map(migrations, (step, migration) =>
    step.pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : Effect.fail(new MigrationFailed({ migration, message: describe(cause) }))
      ),
      Effect.timed,
      Effect.flatMap(([duration]) =>
        onApplied ? onApplied({ migration, millis: Math.round(Duration.toMillis(duration)) }) : Effect.void
      ),
      Effect.annotateLogs("migration", migration)
    ))

// The Migrator turns a failing step into a defect; bring ours back as an error.
const recoverFailure = (defect: unknown) => {
  const failure = (defect as { cause?: unknown })?.cause
  return failure instanceof MigrationFailed ? Effect.fail(failure) : Effect.die(defect)
}

/**
 * Applies every pending migration; returns the applied ones, in order.
 *
 * @since 0.1.0
 */
export const run = (
  options: RunOptions = {}
): Effect.Effect<ReadonlyArray<Applied>, MigrationFailed | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const applied: Array<Applied> = []
    const migrations = instrument(options.migrations ?? history, (step) => {
      applied.push(step)
      return options.onApplied ? options.onApplied(step) : Effect.void
    })
    // Steps may run for minutes on a large deployment: no statement timeout inside (Database.ts).
    yield* sql.withTransaction(Database.withoutStatementTimeout(Effect.gen(function*() {
      const [lock] = yield* sql<{ free: boolean }>`SELECT pg_try_advisory_xact_lock(${lockKey}) AS free`
      if (!lock!.free) {
        yield* Effect.logInfo("another migrate is running; waiting for it to finish")
        yield* sql`SELECT pg_advisory_xact_lock(${lockKey})`
      }
      // The Migrator's own "does the table exist" probe would abort this transaction.
      yield* sql`
        CREATE TABLE IF NOT EXISTS ${sql(table)} (
          migration_id integer PRIMARY KEY,
          created_at timestamptz NOT NULL DEFAULT now(),
          name text NOT NULL
        )`
      yield* Migrator.make({})({ loader: Migrator.fromRecord(migrations), table })
    }))).pipe(
      Effect.catchAllDefect(recoverFailure),
      Effect.catchTag("MigrationError", (error) =>
        Effect.fail(new MigrationFailed({ migration: "(history)", message: error.message })))
    )
    return applied
  })

/**
 * @since 0.1.0
 */
export interface Status {
  readonly applied: ReadonlyArray<{ readonly migration: string; readonly appliedAt: Date }>
  readonly pending: ReadonlyArray<string>
}

/**
 * Applied and pending migrations, without changing anything.
 *
 * @since 0.1.0
 */
export const status = (
  migrations: History = history
): Effect.Effect<Status, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [table_] = yield* sql<{ present: boolean }>`SELECT to_regclass(${table}) IS NOT NULL AS present`
    const rows = table_!.present
      ? yield* sql<{ migrationId: number; name: string; createdAt: Date }>`
          SELECT migration_id, name, created_at FROM ${sql(table)} ORDER BY migration_id`
      : []
    const latest = rows.reduce((max, row) => Math.max(max, row.migrationId), 0)
    return {
      applied: rows.map((row) => ({ migration: keyOf(row.migrationId, row.name), appliedAt: row.createdAt })),
      pending: Object.keys(migrations).filter((key) => Number(key.split("_")[0]) > latest).sort()
    }
  })
