/**
 * The `docstore` command tree, and how its outcome becomes an exit code: 0
 * done, 1 the operation failed (one line on stderr), 2 bad usage or bad input,
 * 3 not found (`ErrorStatus`).
 */
import { Args, Command, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Database from "../Database.js"
import * as DocumentChanges from "../DocumentChanges.js"
import * as EmbeddedPostgres from "../EmbeddedPostgres.js"
import * as ErrorStatus from "../ErrorStatus.js"
import { json } from "./common.js"
import { runDemo } from "./demo.js"
import { ls, put, show, versions } from "./documents.js"
import { BlobsLive } from "./layers.js"
import { get } from "./get.js"
import { changes, follow, prune } from "./feed.js"
import * as Migrate from "./migrate.js"
import { blobs } from "./blobs.js"
import * as Consumers from "./consumers.js"
import * as Health from "./health.js"
import { relay } from "./relay.js"
import * as RepairFeed from "./repairFeed.js"
import { serve } from "./serve.js"
import { token } from "./token.js"

const migrate = Command.make(
  "migrate",
  { action: Args.choice([["up", "up"], ["status", "status"]], { name: "action" }).pipe(Args.withDefault("up" as const)) },
  ({ action }) => action === "up" ? Migrate.up : Migrate.status
).pipe(
  Command.withDescription("Apply pending migrations (up, the default) or list applied and pending ones (status)."),
  Command.provide(Layer.mergeAll(Database.layerConfig, Migrate.reporting))
)

const demo = Command.make("demo", { json }, (options) => runDemo({ json: options.json })).pipe(
  Command.withDescription("Migrate, follow the change feed and write a small scenario, printing changes live."),
  Command.provide(Layer.mergeAll(DocumentChanges.layer().pipe(Layer.provideMerge(BlobsLive)), Migrate.reporting))
)

const server = Command.make("server").pipe(
  Command.withDescription("The embedded PostgreSQL in .docstore/ (used when DATABASE_URL is unset)."),
  Command.withSubcommands([
    Command.make("stop", {}, () =>
      Effect.zipRight(
        EmbeddedPostgres.stop(EmbeddedPostgres.defaultDirectory),
        Console.log(`stopped the embedded PostgreSQL in ${EmbeddedPostgres.defaultDirectory}/ (its data stays)`)
      )).pipe(Command.withDescription("Stop the embedded server if it runs; its data stays."))
  ])
)

/**
 * @since 0.1.0
 */
export const docstore = Command.make("docstore").pipe(
  Command.withDescription("A PostgreSQL-backed document store for Effect backends."),
  Command.withSubcommands([
    migrate,
    put,
    get,
    ls,
    show,
    versions,
    changes,
    prune,
    blobs,
    Consumers.command,
    Health.command,
    RepairFeed.command,
    relay,
    serve,
    token,
    demo,
    server
  ])
)

const cli = Command.run(docstore, { name: "docstore", version: "0.1.0" })

const oneLine = (error: unknown): string => {
  if (ErrorStatus.isKnown(error)) {
    switch (error._tag) {
      case "InvalidInput":
        return `invalid input: ${error.field} ${error.message}`
      case "DocumentNotFound":
      case "VersionNotFound":
        return `not found: ${error.message}`
      case "MigrationFailed":
        return Migrate.explain(error)
      default:
        return `${error._tag}: ${error.message}`
    }
  }
  const { _tag, message } = error as { readonly _tag?: string; readonly message?: string }
  if (_tag === "SqlError") return Migrate.explain({ _tag, message: message ?? "" })
  return `${_tag ?? "Error"}: ${message ?? String(error)}`.trim()
}

/**
 * Runs the command line and exits the process with its exit code.
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>) =>
  cli(argv).pipe(
    Effect.as(0),
    Effect.catchAll((error) =>
      Effect.sync(() => {
        // @effect/cli has already printed usage errors.
        if (ValidationError.isValidationError(error)) return 2
        process.stderr.write(`docstore: ${oneLine(error).replace(/\s*\n\s*/g, " ")}\n`)
        return ErrorStatus.of(error).exitCode
      })
    ),
    Effect.catchAllDefect((defect) =>
      Effect.sync(() => {
        process.stderr.write(`docstore: unexpected failure: ${defect instanceof Error ? defect.message : String(defect)}\n`)
        return 1
      })
    ),
    Effect.provide(NodeContext.layer),
    NodeRuntime.runMain({
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exit.value as number : follow.interrupted ? 0 : 130)
    })
  )
