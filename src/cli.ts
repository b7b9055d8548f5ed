/**
 * The `docstore` command line (the package's `bin`).
 *
 * Exit codes: 0 done, 1 the operation failed (one line on stderr), 2 bad usage.
 *
 * @since 0.1.0
 */
import { Args, Command, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Database from "./Database.js"
import * as Migrate from "./migrate.js"

const action = Args.choice([["up", "up"], ["status", "status"]], { name: "action" }).pipe(
  Args.withDefault("up" as const)
)

const migrate = Command.make("migrate", { action }, ({ action }) =>
  action === "up" ? Migrate.up : Migrate.status).pipe(
    Command.withDescription("Apply pending migrations (up, the default) or list applied and pending ones (status)."),
    Command.provide(Layer.mergeAll(Database.layerConfig, Logger.replace(Logger.defaultLogger, Migrate.reportLogger)))
  )

const docstore = Command.make("docstore").pipe(
  Command.withDescription("A PostgreSQL-backed document store for Effect backends."),
  Command.withSubcommands([migrate])
)

const cli = Command.run(docstore, { name: "docstore", version: "0.1.0" })

/**
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>) =>
  cli(argv).pipe(
    Effect.as(0),
    Effect.catchAll((error) =>
      Effect.sync(() => {
        // @effect/cli has already printed usage errors, with help.
        if (ValidationError.isValidationError(error)) return 2
        process.stderr.write(`${Migrate.explain(error)}\n`)
        return 1
      })
    ),
    Effect.catchAllDefect((defect) =>
      Effect.sync(() => {
        process.stderr.write(`Unexpected failure: ${defect instanceof Error ? defect.message : String(defect)}\n`)
        return 1
      })
    ),
    Effect.provide(NodeContext.layer),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exit.value as number : 130)
    })
  )

main(process.argv)
