/**
 * The `docstore` command line (the package's `bin`), against `DATABASE_URL`
 * or the embedded default.
 *
 * Every command that prints records takes `--json` and then prints one JSON
 * object a line. Exit codes: 0 done, 1 the operation failed (one line on
 * stderr), 2 bad usage or bad input, 3 not found.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Args, Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Database from "./Database.js"
import * as DocumentChanges from "./DocumentChanges.js"
import * as Documents from "./Documents.js"
import { InvalidInput } from "./Errors.js"
import { runDemo } from "./internal/demo.js"
import * as Output from "./internal/output.js"
import { serve } from "./cli/serve.js"
import { token } from "./cli/token.js"
import * as Migrate from "./migrate.js"
import * as NameKey from "./NameKey.js"

const StoreLive = Layer.mergeAll(Documents.layer, DocumentChanges.layer()).pipe(
  Layer.provideMerge(Database.layerConfig)
)

const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON object a line."))
const workspace = Options.text("workspace").pipe(Options.withDescription("The workspace id (a UUID)."))
const kind = Options.choice("kind", NameKey.kinds)
const documentId = Args.text({ name: "document-id" })

const print = (lines: ReadonlyArray<string>) => Effect.forEach(lines, (line) => Console.log(line), { discard: true })

// ---------------------------------------------------------------------------

const migrate = Command.make(
  "migrate",
  { action: Args.choice([["up", "up"], ["status", "status"]], { name: "action" }).pipe(Args.withDefault("up" as const)) },
  ({ action }) => action === "up" ? Migrate.up : Migrate.status
).pipe(
  Command.withDescription("Apply pending migrations (up, the default) or list applied and pending ones (status)."),
  Command.provide(Layer.mergeAll(Database.layerConfig, Logger.replace(Logger.defaultLogger, Migrate.reportLogger)))
)

/** Size and sha256 of a local file, read as a stream; progress on a terminal for big files. */
const fingerprint = (file: string) =>
  Effect.async<{ readonly size: number; readonly sha256: string }, Error>((resume) => {
    const hash = createHash("sha256")
    const total = fs.statSync(file).size
    const showProgress = process.stderr.isTTY && total > 64 * 1024 * 1024
    let size = 0
    let shown = 0
    fs.createReadStream(file)
      .on("data", (chunk) => {
        hash.update(chunk)
        size += chunk.length
        if (showProgress && size - shown > total / 50) {
          shown = size
          process.stderr.write(`\rhashing ${path.basename(file)}: ${Math.floor((size / total) * 100)}%`)
        }
      })
      .on("error", (error) => resume(Effect.fail(error)))
      .on("end", () => {
        if (showProgress) process.stderr.write("\r\x1b[K")
        resume(Effect.succeed({ size, sha256: hash.digest("hex") }))
      })
  })

const put = Command.make(
  "put",
  {
    file: Args.file({ name: "file", exists: "yes" }),
    workspace,
    kind: kind.pipe(Options.withDefault("input" as const)),
    name: Options.text("name").pipe(Options.optional, Options.withDescription("Display name (default: the file's name).")),
    source: Options.text("source").pipe(Options.optional, Options.withDescription("Output: the source document id.")),
    run: Options.text("run").pipe(Options.optional, Options.withDescription("Output or log: the run id.")),
    exportJob: Options.text("export-job").pipe(Options.optional, Options.withDescription("Export: the export job id.")),
    contentType: Options.text("content-type").pipe(Options.optional),
    versionId: Options.text("version-id").pipe(
      Options.optional,
      Options.withDescription("A client-chosen version id: repeating the command with it does not add a version.")
    ),
    json
  },
  (options) =>
    Effect.gen(function*() {
      const documents = yield* Documents.Documents
      const { sha256, size } = yield* fingerprint(options.file)
      const name = Option.getOrElse(options.name, () => path.basename(options.file))
      const version: Documents.VersionInput = {
        storageKey: `sha256/${sha256}`,
        byteSize: size,
        sha256,
        ...Option.match(options.contentType, { onNone: () => ({}), onSome: (contentType) => ({ contentType }) }),
        ...Option.match(options.versionId, { onNone: () => ({}), onSome: (id) => ({ id }) })
      }
      const common = { workspaceId: options.workspace, name, version }
      const request: Documents.PutRequest = options.kind === "input"
        ? { kind: "input", ...common }
        : options.kind === "output"
        ? {
          kind: "output",
          ...common,
          sourceDocumentId: Option.getOrNull(options.source),
          runId: Option.getOrNull(options.run)
        }
        : options.kind === "log"
        ? { kind: "log", ...common, runId: Option.getOrElse(options.run, () => "") }
        : { kind: "export", ...common, exportJobId: Option.getOrElse(options.exportJob, () => "") }
      const written = yield* documents.put(request)
      if (options.json) {
        yield* Console.log(Output.jsonLine({
          document: Output.documentRecord(written.document),
          version: Output.versionRecord(written.version),
          replayed: written.replayed
        }))
      } else {
        yield* Console.log(
          `${written.replayed ? "already stored" : "stored"} ${written.document.kind} ${written.document.id} ` +
            `version ${written.version.versionNo} (${written.version.byteSize} bytes, ` +
            `${written.version.contentType ?? "no content type"}) as "${written.document.name}"`
        )
      }
    })
).pipe(Command.withDescription("Record a new version of a document for a local file."), Command.provide(StoreLive))

const ls = Command.make(
  "ls",
  {
    workspace,
    kind: kind.pipe(Options.optional),
    limit: Options.integer("limit").pipe(Options.withDefault(100)),
    json
  },
  (options) =>
    Effect.gen(function*() {
      const documents = yield* Documents.Documents
      const page = yield* documents.list({
        workspaceId: options.workspace,
        limit: options.limit,
        ...Option.match(options.kind, { onNone: () => ({}), onSome: (kind) => ({ kind }) })
      })
      if (options.json) {
        yield* print(page.documents.map((document) => Output.jsonLine(Output.documentRecord(document))))
      } else if (page.documents.length === 0) {
        yield* Console.log("no documents")
      } else {
        yield* print(Output.documentRows(page.documents))
        if (page.nextPageToken) yield* Console.log(`… more than ${options.limit}; raise --limit to see them`)
      }
    })
).pipe(Command.withDescription("List a workspace's documents, newest first."), Command.provide(StoreLive))

const show = Command.make("show", { documentId, workspace, json }, (options) =>
  Effect.gen(function*() {
    const documents = yield* Documents.Documents
    const ref = { workspaceId: options.workspace, documentId: options.documentId }
    const document = yield* documents.get(ref)
    const latest = yield* documents.latestVersion(ref)
    if (options.json) {
      yield* Console.log(Output.jsonLine({ ...Output.documentRecord(document), latestVersion: Output.versionRecord(latest) }))
    } else {
      yield* print(Output.table(["FIELD", "VALUE"], [
        ["id", document.id],
        ["name", document.name],
        ["kind", document.kind],
        ["key", document.nameKey],
        ["source", document.sourceDocumentId ?? "-"],
        ["run", document.runId ?? "-"],
        ["created", document.createdAt.toISOString()],
        ["updated", document.updatedAt.toISOString()],
        ["latest version", `${latest.versionNo} (${latest.byteSize} bytes, ${latest.contentType ?? "no content type"})`]
      ]))
    }
  })).pipe(Command.withDescription("Show one document."), Command.provide(StoreLive))

const versions = Command.make("versions", { documentId, workspace, json }, (options) =>
  Effect.gen(function*() {
    const documents = yield* Documents.Documents
    const all = yield* documents.versions({ workspaceId: options.workspace, documentId: options.documentId })
    yield* options.json ? print(all.map((v) => Output.jsonLine(Output.versionRecord(v)))) : print(Output.versionRows(all))
  })).pipe(Command.withDescription("List a document's versions, oldest first."), Command.provide(StoreLive))

/** Set when `changes --follow` runs: Ctrl-C is then its normal, successful end. */
let followInterrupted = false

const changes = Command.make(
  "changes",
  {
    workspace: workspace.pipe(Options.optional),
    since: Options.text("since").pipe(Options.optional, Options.withDescription("Resume after this cursor.")),
    fromStart: Options.boolean("from-start").pipe(Options.withDescription("Start at the beginning of the feed.")),
    fromNow: Options.boolean("from-now").pipe(Options.withDescription("Only what commits from now on.")),
    follow: Options.boolean("follow").pipe(Options.withDescription("Keep streaming until interrupted (Ctrl-C).")),
    limit: Options.integer("limit").pipe(Options.optional, Options.withDescription("Stop after this many changes.")),
    json
  },
  (options) =>
    Effect.gen(function*() {
      const feed = yield* DocumentChanges.DocumentChanges
      const starts = [Option.isSome(options.since), options.fromStart, options.fromNow].filter(Boolean).length
      if (starts > 1) {
        return yield* new InvalidInput({ field: "--since", message: "--since, --from-start and --from-now exclude each other" })
      }
      const from = Option.getOrElse(options.since, () => options.fromNow ? "now" : "beginning")
      let lastCursor = Option.isSome(options.since) ? options.since.value : ""
      let counted = 0
      const limit = Option.getOrElse(options.limit, () => Number.POSITIVE_INFINITY)
      const out = (line: string) => Console.log(line)
      yield* feed.stream({
        from,
        ...Option.match(options.workspace, { onNone: () => ({}), onSome: (workspaceId) => ({ workspaceId }) })
      }).pipe(
        Stream.takeUntil((event) => {
          if (event._tag === "Change") counted++
          return (!options.follow && event._tag === "CaughtUp") || counted >= limit
        }),
        Stream.runForEach((event) =>
          DocumentChanges.FeedEvent.$match(event, {
            Change: ({ change, cursor }) => {
              lastCursor = cursor
              return out(options.json ? Output.jsonLine(Output.changeRecord(change, cursor)) : Output.changeLine(change))
            },
            CaughtUp: ({ cursor, stall }) => {
              lastCursor = cursor
              return Effect.zipRight(
                out(options.json ? Output.jsonLine({ type: "caught-up", cursor, stall }) : `-- caught up; cursor ${cursor}`),
                stall ? Console.error(Output.stallText(stall)) : Effect.void
              )
            },
            Heartbeat: ({ cursor, stall }) => {
              lastCursor = cursor
              return stall ? Console.error(Output.stallText(stall)) : Effect.void
            }
          })
        ),
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            followInterrupted = options.follow
            process.stderr.write(`\nlast cursor: ${lastCursor}\n`)
          })
        )
      )
      if (!options.json && lastCursor && Option.isSome(options.limit)) yield* Console.log(`-- cursor ${lastCursor}`)
    })
).pipe(
  Command.withDescription("Print the change feed; with --follow, keep streaming until Ctrl-C (which prints the last cursor)."),
  Command.provide(StoreLive)
)

const parseAge = (text: string): Option.Option<Duration.Duration> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|millis|seconds?|minutes?|hours?|days?|weeks?)\s*$/i.exec(text)
  if (!match) return Option.none()
  const amount = Number(match[1])
  const unit = match[2]!.toLowerCase()
  const millis = unit === "ms" || unit === "millis"
    ? 1
    : unit.startsWith("s")
    ? 1000
    : unit === "m" || unit.startsWith("minute")
    ? 60_000
    : unit.startsWith("h")
    ? 3_600_000
    : unit.startsWith("d")
    ? 86_400_000
    : 604_800_000
  return Option.some(Duration.millis(amount * millis))
}

const prune = Command.make(
  "prune",
  {
    olderThan: Options.text("older-than").pipe(
      Options.withDescription("An age such as 30d, 12h, 90m or '7 days'."),
      Options.mapEffect((text) =>
        Option.match(parseAge(text), {
          onNone: () =>
            Effect.fail(ValidationError.invalidValue(
              HelpDoc.p(`--older-than: "${text}" is not an age such as 30d, 12h or 90m`)
            )),
          onSome: Effect.succeed
        })
      )
    ),
    json
  },
  (options) =>
    Effect.gen(function*() {
      const feed = yield* DocumentChanges.DocumentChanges
      const pruned = yield* feed.prune({ olderThan: options.olderThan })
      yield* Console.log(
        options.json
          ? Output.jsonLine({ type: "pruned", ...pruned })
          : `pruned ${pruned.deleted} change(s) older than ${Duration.format(options.olderThan)}` +
            (pruned.horizon ? `; cursors before ${pruned.horizon} now expire` : "")
      )
    })
).pipe(Command.withDescription("Delete changes older than an age; older cursors then get CursorExpired."), Command.provide(StoreLive))

const demo = Command.make("demo", { json }, (options) => runDemo({ json: options.json })).pipe(
  Command.withDescription("Migrate, follow the change feed and write a small scenario, printing changes live."),
  Command.provide(Layer.mergeAll(StoreLive, Logger.replace(Logger.defaultLogger, Migrate.reportLogger)))
)

const docstore = Command.make("docstore").pipe(
  Command.withDescription("A PostgreSQL-backed document store for Effect backends."),
  Command.withSubcommands([migrate, put, ls, show, versions, changes, prune, demo, serve, token])
)

const cli = Command.run(docstore, { name: "docstore", version: "0.1.0" })

const exitCodeOf = (error: { readonly _tag: string }): number => {
  switch (error._tag) {
    case "InvalidInput":
    case "InvalidCursor":
      return 2
    case "DocumentNotFound":
    case "VersionNotFound":
    case "TokenNotFound":
      return 3
    default:
      return 1
  }
}

const oneLine = (error: { readonly _tag: string; readonly message?: string }): string => {
  switch (error._tag) {
    case "InvalidInput": {
      const { field, message } = error as unknown as { field: string; message: string }
      return `invalid input: ${field} ${message}`
    }
    case "DocumentNotFound":
    case "VersionNotFound":
      return `not found: ${error.message}`
    case "MigrationFailed":
    case "SqlError":
      return Migrate.explain(error as { _tag: string; message: string })
    default:
      return `${error._tag}: ${error.message ?? ""}`.trim()
  }
}

/**
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>) =>
  cli(argv).pipe(
    Effect.as(0),
    Effect.catchAll((error) =>
      Effect.sync(() => {
        // @effect/cli has already printed usage errors.
        if (ValidationError.isValidationError(error)) return 2
        process.stderr.write(`docstore: ${oneLine(error as { _tag: string; message?: string }).replace(/\s*\n\s*/g, " ")}\n`)
        return exitCodeOf(error as { _tag: string })
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
      teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? exit.value as number : followInterrupted ? 0 : 130)
    })
  )

main(process.argv)
