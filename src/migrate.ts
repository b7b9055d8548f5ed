/**
 * Deploy entry point: `tsx src/migrate.ts [up|status]`.
 *
 * Reads `DATABASE_URL` (or uses the embedded default outside production),
 * applies what is pending and prints each step and a summary. Exit codes:
 * 0 done (or nothing pending), 1 a step failed and everything was rolled back,
 * 2 bad usage.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Database from "./Database.js"
import * as Migrations from "./Migrations.js"

const seconds = (millis: number) => `${(millis / 1000).toFixed(2)} s`

// Migration logs are part of the report: print their messages, indented, on stdout.
/**
 * @since 0.1.0
 */
export const reportLogger = Logger.make(({ message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  process.stdout.write(`    ${text}\n`)
})

/**
 * @since 0.1.0
 */
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

/**
 * @since 0.1.0
 */
export const status = Effect.gen(function*() {
  const { applied, pending } = yield* Migrations.status()
  for (const step of applied) yield* Console.log(`  applied  ${step.migration}  ${step.appliedAt.toISOString()}`)
  for (const step of pending) yield* Console.log(`  pending  ${step}`)
  yield* Console.log(`${applied.length} applied, ${pending.length} pending.`)
})

/**
 * One paragraph for any failure, never a stack trace.
 *
 * @since 0.1.0
 */
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

const main = (command: string | undefined) => {
  const program = command === undefined || command === "up" ? up : command === "status" ? status : undefined
  if (program === undefined) {
    process.stderr.write(`Unknown command "${command}". Usage: migrate [up|status]\n`)
    process.exit(2)
  }
  const fail = (message: string) =>
    Effect.sync(() => {
      process.stderr.write(`${message}\n`)
      return 1
    })
  program.pipe(
    Effect.as(0),
    Effect.provide(Layer.mergeAll(Database.layerConfig, Logger.replace(Logger.defaultLogger, reportLogger))),
    Effect.catchAll((error) => fail(explain(error))),
    Effect.catchAllDefect((defect) =>
      fail(`Unexpected failure: ${defect instanceof Error ? defect.message : String(defect)}`)
    ),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exit.value as number : 130)
    })
  )
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv[2])
