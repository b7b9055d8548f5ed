/**
 * `docstore migrate` and the deploy entry point's shared parts: applying and
 * listing migrations with a printed report, and one paragraph for a failure.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Database from "../Database.js"
import * as Migrations from "../Migrations.js"

const seconds = (millis: number) => `${(millis / 1000).toFixed(2)} s`

/** Migration logs are part of the report: their messages, indented, on stdout. */
export const reportLogger = Logger.make(({ message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  process.stdout.write(`    ${text}\n`)
})

/** Applies what is pending, a line per step and a summary. */
export const up = Effect.gen(function*() {
  const started = Date.now()
  const applied = yield* Migrations.run({
    onApplied: ({ migration, millis }) => Console.log(`  applied ${migration} (${seconds(millis)})`)
  })
  const { applied: all } = yield* Migrations.status()
  const at = all.at(-1)?.migration ?? "(none)"
  yield* Console.log(
    applied.length === 0
      ? `Nothing pending: the database is at ${at}.`
      : `Migrated: ${applied.length} step(s) applied and committed in ${seconds(Date.now() - started)}; ` +
        `the database is at ${at}.`
  )
})

/** The applied and pending steps. */
export const status = Effect.gen(function*() {
  const { applied, pending } = yield* Migrations.status()
  for (const step of applied) yield* Console.log(`  applied  ${step.migration}  ${step.appliedAt.toISOString()}`)
  for (const step of pending) yield* Console.log(`  pending  ${step}`)
  yield* Console.log(`${applied.length} applied, ${pending.length} pending.`)
})

/** One paragraph for any failure, never a stack trace. */
export const explain = (error: { readonly _tag: string; readonly message: string }): string => {
  switch (error._tag) {
    case "MigrationFailed": {
      const failed = error as Migrations.MigrationFailed
      return `Migration failed at ${failed.migration}: ${failed.message}. ` +
        `Every pending step was rolled back; the database is exactly as it was before this run.`
    }
    case "SqlError":
      return error.message === Database.commitOutcomeUnknown
        ? `Database error: ${error.message}${describeCause(error)}. ` +
          `Run "migrate status" to see whether the pending steps were applied; "migrate" again completes either way.`
        : `Database error: ${error.message}${describeCause(error)}. Nothing was changed.`
    default:
      return `${error.message}`
  }
}

const describeCause = (error: unknown) => {
  const cause = (error as { cause?: { message?: string } }).cause
  return cause?.message ? ` (${cause.message})` : ""
}

/** The report's logger in place of the default one. */
export const reporting = Logger.replace(Logger.defaultLogger, reportLogger)
