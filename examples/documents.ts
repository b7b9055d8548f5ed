/**
 * A small Effect program composing the store's layers: the database (from
 * DATABASE_URL, or the embedded default in .docstore/) and the documents
 * service. It migrates, uploads an input twice under differently-cased
 * names, records a run's output and log, and prints what it stored.
 *
 *   tsx examples/documents.ts
 */
import { randomUUID } from "node:crypto"
import { NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Database, Documents, Migrations } from "../src/index.js"

const program = Effect.gen(function*() {
  yield* Migrations.run()
  const documents = yield* Documents.Documents
  const workspaceId = randomUUID()
  const runId = randomUUID()

  const upload = (name: string, byteSize: number) =>
    documents.put({ kind: "input", workspaceId, name, version: { storageKey: `uploads/${randomUUID()}`, byteSize } })

  const first = yield* upload("Quarterly Report.pdf", 48_213)
  const second = yield* upload("quarterly report.PDF ", 51_007)
  yield* Console.log(
    `uploaded "${first.document.name}" twice: document ${second.document.id === first.document.id ? "reused" : "NEW"}, ` +
      `now at version ${second.version.versionNo}`
  )

  const output = yield* documents.put({
    kind: "output",
    workspaceId,
    name: "summary.csv",
    sourceDocumentId: first.document.id,
    runId,
    version: { storageKey: `runs/${runId}/summary.csv`, byteSize: 1_204 }
  })
  const log = yield* documents.put({
    kind: "log",
    workspaceId,
    name: "run.log",
    runId,
    version: { storageKey: `runs/${runId}/run.log`, byteSize: 88_000, contentType: "text/plain; charset=utf-8" }
  })
  yield* Console.log(`output ${output.document.nameKey} is ${output.version.contentType}`)
  yield* Console.log(`log ${log.document.nameKey} is ${log.version.contentType}`)

  const page = yield* documents.list({ workspaceId, order: "oldest" })
  for (const document of page.documents) {
    const latest = yield* documents.latestVersion({ workspaceId, documentId: document.id })
    yield* Console.log(`${document.kind.padEnd(6)} ${document.name.padEnd(22)} v${latest.versionNo}  ${latest.byteSize} bytes`)
  }
})

program.pipe(
  Effect.provide(Documents.layer.pipe(Layer.provideMerge(Database.layerConfig))),
  NodeRuntime.runMain
)
