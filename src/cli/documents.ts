/**
 * The documents commands: `put`, `ls`, `show`, `versions`.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Args, Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Documents from "../Documents.js"
import { documentId, json, kind, print, StoreLive, workspace } from "./common.js"
import { BlobsLive } from "./layers.js"
import * as Output from "./output.js"
import { uploadFile } from "./upload.js"

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

export const put = Command.make(
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
    noUpload: Options.boolean("no-upload").pipe(Options.withDescription("Record the version only; store no bytes.")),
    json
  },
  (options) =>
    Effect.gen(function*() {
      const documents = yield* Documents.Documents
      // Uploading, the store reports the storage fields; these are placeholders.
      const { sha256, size } = options.noUpload ? yield* fingerprint(options.file) : { sha256: null, size: 0 }
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
      const written = options.noUpload ? yield* documents.put(request) : yield* uploadFile(request, options.file)
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
).pipe(
  Command.withDescription("Store a local file's bytes as a new version of a document (--no-upload: record it only)."),
  Command.provide(BlobsLive)
)

export const ls = Command.make(
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

export const show = Command.make("show", { documentId, workspace, json }, (options) =>
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

export const versions = Command.make("versions", { documentId, workspace, json }, (options) =>
  Effect.gen(function*() {
    const documents = yield* Documents.Documents
    const all = yield* documents.versions({ workspaceId: options.workspace, documentId: options.documentId })
    yield* options.json ? print(all.map((v) => Output.jsonLine(Output.versionRecord(v)))) : print(Output.versionRows(all))
  })).pipe(Command.withDescription("List a document's versions, oldest first."), Command.provide(StoreLive))

