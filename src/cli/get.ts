/**
 * `docstore get <document-id> --workspace <id> [--version-no N] [-o FILE]`: a
 * version's bytes (the latest by default), checked against its sha256, to
 * stdout or to a file. A file is written beside its target and renamed into
 * place only when every byte arrived and matched: a failed get leaves no file.
 */
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { Args, Command, Options } from "@effect/cli"
import * as FileSystem from "@effect/platform/FileSystem"
import { NodeSink } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import type { PlatformError } from "@effect/platform/Error"
import * as Option from "effect/Option"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import { BlobStoreUnavailable } from "../BlobStore.js"
import * as DocumentBlobs from "../DocumentBlobs.js"
import { BlobsLive } from "./layers.js"
import { withProgress } from "./progress.js"

const stdout = NodeSink.fromWritable(
  () => process.stdout,
  (error) => new BlobStoreUnavailable({ message: `writing to stdout: ${String(error)}` }),
  { endOnDone: false }
)

const toFile = <E>(bytes: Stream.Stream<Uint8Array, E>, target: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${randomUUID()}.part`)
    const failed = (error: PlatformError) => new BlobStoreUnavailable({ message: `writing ${target}: ${error.message}` })
    yield* Stream.run(bytes, Sink.mapError(fs.sink(temporary), failed)).pipe(
      Effect.zipRight(Effect.mapError(fs.rename(temporary, target), failed)),
      Effect.onError(() => fs.remove(temporary).pipe(Effect.ignore))
    )
  })

export const get = Command.make(
  "get",
  {
    documentId: Args.text({ name: "document-id" }),
    workspace: Options.text("workspace").pipe(Options.withDescription("The workspace id (a UUID).")),
    // Not `--version`: @effect/cli reserves it for printing the program's version.
    version: Options.integer("version-no").pipe(
      Options.withAlias("n"),
      Options.optional,
      Options.withDescription("The version number (default: the latest).")
    ),
    output: Options.file("output").pipe(
      Options.withAlias("o"),
      Options.optional,
      Options.withDescription("Write the bytes to this file instead of stdout.")
    )
  },
  (options) =>
    Effect.gen(function*() {
      const blobs = yield* DocumentBlobs.DocumentBlobs
      const download = yield* blobs.download({
        workspaceId: options.workspace,
        documentId: options.documentId,
        versionNo: Option.getOrUndefined(options.version)
      })
      const bytes = withProgress(
        `downloading version ${download.version.versionNo}`,
        Number(download.version.byteSize),
        download.bytes
      )
      yield* Option.match(options.output, {
        onNone: () => Stream.run(bytes, stdout),
        onSome: (file) => toFile(bytes, file)
      })
    })
).pipe(
  Command.withDescription("Write a version's bytes (the latest unless --version-no) to stdout or -o FILE, checked against its sha256."),
  Command.provide(BlobsLive)
)
