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
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Migrate from "./cli/migrate.js"
import { isEntryPoint } from "./cli/entryPoint.js"
import * as Database from "./Database.js"

const main = (command: string | undefined) => {
  const program = command === undefined || command === "up" ? Migrate.up : command === "status" ? Migrate.status : undefined
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
    Effect.provide(Layer.mergeAll(Database.layerConfig, Migrate.reporting)),
    Effect.catchAll((error) => fail(Migrate.explain(error))),
    Effect.catchAllDefect((defect) => fail(`Unexpected failure: ${defect instanceof Error ? defect.message : String(defect)}`)),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exit.value as number : 130)
    })
  )
}

if (isEntryPoint(import.meta.url)) main(process.argv[2])
