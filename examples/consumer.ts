/**
 * A durable change-feed consumer: a toy search indexer that keeps, per
 * workspace, the number of versions each document has. Its checkpoint lives
 * in the database (table document_consumers), so a restart continues where
 * the last successful batch ended; delivery is at-least-once, so the handler
 * is idempotent (it sets values instead of incrementing them).
 *
 *   tsx examples/consumer.ts [seconds]     (DATABASE_URL, or the embedded default)
 *
 * It writes a few documents itself so there is something to consume, runs the
 * consumer for the given time (default 3 s), then prints the index.
 */
import { randomUUID } from "node:crypto"
import { NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Database, DocumentChanges, Documents, Migrations } from "../src/index.js"

const seconds = Number(process.argv[2] ?? 3)

const program = Effect.gen(function*() {
  yield* Migrations.run()
  const documents = yield* Documents.Documents
  const feed = yield* DocumentChanges.DocumentChanges
  const workspaceId = randomUUID()

  for (const name of ["Contract.pdf", "contract.PDF", "Invoice 7.pdf"]) {
    yield* documents.put({ kind: "input", workspaceId, name, version: { storageKey: `uploads/${randomUUID()}`, byteSize: 100 } })
  }

  // document id -> latest version number seen: setting, not incrementing, keeps redelivery harmless.
  const index = new Map<string, number>()
  yield* feed.consume({
    name: `example-indexer-${workspaceId}`,
    workspaceId,
    handler: (changes) =>
      Effect.gen(function*() {
        for (const change of changes) {
          if (change.op === "deleted") index.delete(change.documentId)
          else index.set(change.documentId, Math.max(index.get(change.documentId) ?? 0, change.versionNo ?? 0))
        }
        yield* Console.log(`indexed a batch of ${changes.length} change(s)`)
      })
  }).pipe(Effect.timeout(Duration.seconds(seconds)), Effect.ignore)

  for (const [documentId, versions] of index) {
    const document = yield* documents.get({ workspaceId, documentId })
    yield* Console.log(`${document.name}: ${versions} version(s)`)
  }
})

program.pipe(
  Effect.provide(
    Layer.mergeAll(Documents.layer, DocumentChanges.layer()).pipe(Layer.provideMerge(Database.layerConfig))
  ),
  NodeRuntime.runMain
)
