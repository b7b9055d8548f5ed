/**
 * Another process writing through the library: puts one input document into
 * the workspace given as the first argument (DATABASE_URL names the database).
 */
import { randomUUID } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Database from "../../src/Database.js"
import * as Documents from "../../src/Documents.js"

const workspaceId = process.argv[2]!

await Effect.runPromise(
  Effect.flatMap(Documents.Documents, (documents) =>
    documents.put({ kind: "input", workspaceId, name: "from-another-process.txt", version: { storageKey: randomUUID(), byteSize: 1 } })
  ).pipe(Effect.provide(Documents.layer.pipe(Layer.provideMerge(Database.layerConfig))))
)
