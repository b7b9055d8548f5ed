/**
 * `docstore demo` (what `npm start` runs): migrates, follows the change feed,
 * writes a small realistic scenario into a new workspace, prints each change
 * as it streams in, then a summary. Each run uses a new workspace, so it can
 * run again and again.
 */
import { randomUUID } from "node:crypto"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as DocumentBlobs from "../DocumentBlobs.js"
import * as DocumentChanges from "../DocumentChanges.js"
import * as Documents from "../Documents.js"
import * as Migrations from "../Migrations.js"
import * as Output from "./output.js"

// A file of the given size whose bytes say which one it is, streamed to the blob store.
const bytes = (name: string, byteSize: number) =>
  Stream.make(new TextEncoder().encode(`${name} `.repeat(Math.ceil(byteSize / (name.length + 1))).slice(0, byteSize)))

export const runDemo = (options: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const applied = yield* Migrations.run()
    const documents = yield* Documents.Documents
    const blobs = yield* DocumentBlobs.DocumentBlobs
    const feed = yield* DocumentChanges.DocumentChanges
    const say = (line: string) => options.json ? Effect.void : Console.log(line)
    yield* say(applied.length === 0 ? "database: up to date" : `database: applied ${applied.map((a) => a.migration).join(", ")}`)

    const workspaceId = randomUUID()
    const runId = randomUUID()
    const exportJobId = randomUUID()
    yield* say(`workspace ${workspaceId}: following its change feed`)

    // Follow first, then write: every change below is printed as the feed delivers it.
    const expected = 9
    const start = yield* feed.currentCursor
    const follower = yield* feed.stream({ from: start, workspaceId }).pipe(
      Stream.filter((event) => event._tag === "Change"),
      Stream.take(expected),
      Stream.runForEach((event) =>
        event._tag === "Change"
          ? Console.log(options.json ? Output.jsonLine(Output.changeRecord(event.change, event.cursor)) : `  change  ${Output.changeLine(event.change)}`)
          : Effect.void
      ),
      Effect.fork
    )
    // Each step pauses after its write, so its changes print under it as the feed delivers them.
    const step = <A, E, R>(line: string, write: Effect.Effect<A, E, R>) =>
      say(line).pipe(Effect.zipRight(write), Effect.zipLeft(Effect.sleep(Duration.millis(300))))

    const report = yield* step(
      "put input   Report.pdf",
      blobs.upload({ kind: "input", workspaceId, name: "Report.pdf" }, bytes("Report.pdf", 48_213))
    )
    yield* step(
      "put input   report.PDF  (same key: the next version of the same document)",
      blobs.upload({ kind: "input", workspaceId, name: "report.PDF" }, bytes("report.PDF", 51_007))
    )
    yield* step(
      "run output  summary.csv from Report.pdf",
      blobs.upload({
        kind: "output",
        workspaceId,
        name: "summary.csv",
        sourceDocumentId: report.document.id,
        runId
      }, bytes("summary.csv", 1_204))
    )
    yield* step(
      "run log     run.log",
      blobs.upload({ kind: "log", workspaceId, name: "run.log", runId }, bytes("run.log", 88_000))
    )
    yield* step(
      "put export  export.zip",
      blobs.upload({ kind: "export", workspaceId, name: "export.zip", exportJobId }, bytes("export.zip", 203_117))
    )

    yield* Fiber.join(follower).pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(30),
        onTimeout: () => new Error("the change feed did not deliver the demo's changes within 30 s")
      })
    )

    const page = yield* documents.list({ workspaceId, order: "oldest" })
    const rows: Array<Array<string>> = []
    for (const document of page.documents) {
      const versions = yield* documents.versions({ workspaceId, documentId: document.id })
      if (options.json) {
        yield* Console.log(Output.jsonLine({ type: "summary", document: Output.documentRecord(document), versions: versions.map(Output.versionRecord) }))
      }
      rows.push([document.kind, document.name, String(versions.length), versions.map((v) => v.contentType ?? "-").join(", ")])
    }
    yield* say("summary")
    for (const line of Output.table(["KIND", "NAME", "VERSIONS", "CONTENT TYPES"], rows)) yield* say(`  ${line}`)
    yield* say(`${page.documents.length} documents, ${rows.reduce((n, row) => n + Number(row[2]), 0)} versions in workspace ${workspaceId}`)

    // The bytes come back as stored: the download checks them against the version's sha256 as they stream.
    const download = yield* blobs.download({ workspaceId, documentId: report.document.id, versionNo: 1 })
    const size = yield* Stream.runFold(download.bytes, 0, (n, chunk) => n + chunk.length)
    yield* say(`download Report.pdf v1: ${size} bytes, sha256 verified`)
  })
