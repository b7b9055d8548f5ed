import { createHash, randomUUID } from "node:crypto"
import * as nodeFs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { NodeContext } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as BlobStore from "../src/BlobStore.js"
import * as DocumentBlobs from "../src/DocumentBlobs.js"
import * as Documents from "../src/Documents.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, layer as databaseLayer, layerMigrated } from "./support/Database.js"
import * as FaultProxy from "./support/faultProxy.js"
import * as S3Server from "./support/s3Server.js"

const bytes = (value: string) => Stream.make(new TextEncoder().encode(value))
const readAll = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Buffer.concat(Chunk.toReadonlyArray(chunks)).toString())

const tempRoot = Effect.acquireRelease(
  Effect.promise(() => nodeFs.mkdtemp(path.join(os.tmpdir(), "docstore-document-blobs-"))),
  (root) => Effect.promise(() => nodeFs.rm(root, { recursive: true, force: true }))
)

/** Documents, a store and DocumentBlobs over them, on the given database client layer. */
const servicesOn = <E>(
  database: Layer.Layer<SqlClient.SqlClient, E>,
  store: Layer.Layer<BlobStore.BlobStore, unknown>
) =>
  Layer.build(
    DocumentBlobs.layer.pipe(Layer.provideMerge(Layer.mergeAll(Documents.layer, store)), Layer.provideMerge(database))
  ).pipe(
    Effect.map((context) => ({
      blobs: Context.get(context, DocumentBlobs.DocumentBlobs),
      documents: Context.get(context, Documents.Documents),
      store: Context.get(context, BlobStore.BlobStore)
    }))
  )

const fileSystem = (root: string) => BlobStore.layerFileSystem({ root }).pipe(Layer.provide(NodeContext.layer))

const keysIn = (store: BlobStore.BlobStore["Type"]) =>
  Effect.map(Stream.runCollect(store.list()), (infos) => Chunk.toReadonlyArray(infos).map((info) => info.key).sort())

/** Makes a filesystem blob look `hours` old (gc's grace period counts from the file's time). */
const age = (root: string, key: string, hours: number) =>
  Effect.promise(() => {
    const then = new Date(Date.now() - hours * 3_600_000)
    return nodeFs.utimes(path.join(root, key), then, then)
  })

describe("DocumentBlobs", () => {
  it.scoped("uploads bytes, records the version with what the store reported, and downloads them verified", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const { blobs, documents } = yield* servicesOn(layerMigrated, fileSystem(root))
      const workspaceId = randomUUID()
      const uploaded = yield* blobs.upload(
        { kind: "input", workspaceId, name: "Notes.txt", version: { contentType: "text/plain" } },
        bytes("first draft")
      )
      expect(uploaded.version).toMatchObject({
        versionNo: 1,
        storageKey: uploaded.blob.key,
        storageVersionId: null,
        byteSize: 11n,
        sha256: uploaded.blob.sha256,
        contentType: "text/plain"
      })
      expect(uploaded.blob.key).toBe(`sha256/${uploaded.blob.sha256}`)
      const second = yield* blobs.upload({ kind: "input", workspaceId, name: "notes.TXT" }, bytes("second draft"))
      expect(second.version.versionNo).toBe(2)
      const ref = { workspaceId, documentId: uploaded.document.id }
      expect(yield* readAll((yield* blobs.download({ ...ref, versionNo: 1 })).bytes)).toBe("first draft")
      expect(yield* readAll((yield* blobs.download(ref)).bytes)).toBe("second draft")
      expect(yield* Effect.flip(blobs.download({ ...ref, versionNo: 3 }))).toMatchObject({ _tag: "VersionNotFound" })
      expect(yield* Effect.flip(blobs.download({ workspaceId: randomUUID(), documentId: ref.documentId }))).toMatchObject({
        _tag: "DocumentNotFound"
      })
      // Tampered bytes fail the recorded sha256.
      yield* Effect.promise(() => nodeFs.writeFile(path.join(root, uploaded.blob.key), "first draft, edited"))
      expect(yield* Effect.flip(readAll((yield* blobs.download({ ...ref, versionNo: 1 })).bytes))).toMatchObject({
        _tag: "ChecksumMismatch",
        expected: uploaded.blob.sha256
      })
      expect((yield* documents.versions(ref)).length).toBe(2)
    }))

  it.scoped("fails bad input with a typed error naming the field before storing any byte", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const { blobs, store } = yield* servicesOn(layerMigrated, fileSystem(root))
      const error = yield* Effect.flip(blobs.upload({ kind: "input", workspaceId: randomUUID(), name: "a/b" }, bytes("x")))
      expect(error).toMatchObject({ _tag: "InvalidInput", field: "name" })
      const badType = yield* Effect.flip(
        blobs.upload({ kind: "input", workspaceId: randomUUID(), name: "ok", version: { contentType: "nope" } }, bytes("x"))
      )
      expect(badType).toMatchObject({ _tag: "InvalidInput", field: "version.contentType" })
      expect(yield* keysIn(store)).toEqual([])
    }))

  it.scopedLive("records the VersionId S3 reports (null on s3rver, which has no bucket versioning); gc on S3", () =>
    Effect.gen(function*() {
      const server = yield* S3Server.scoped()
      const { blobs, store } = yield* servicesOn(layerMigrated, BlobStore.layerS3(server.options()))
      const workspaceId = randomUUID()
      const uploaded = yield* blobs.upload({ kind: "input", workspaceId, name: "report.csv" }, bytes("a,b\n1,2\n"))
      expect(uploaded.version).toMatchObject({ storageKey: uploaded.blob.key, storageVersionId: null, byteSize: 8n })
      const download = yield* blobs.download({ workspaceId, documentId: uploaded.document.id })
      expect(yield* readAll(download.bytes)).toBe("a,b\n1,2\n")
      // Gc on S3: with no grace period, the unreferenced blob goes and the referenced one stays.
      const orphan = yield* store.put(bytes("never recorded"))
      const report = yield* blobs.gc({ grace: 0 })
      expect(report).toMatchObject({ scanned: 2, referenced: 1, removedBytes: 14 })
      expect(report.removed.map((info) => info.key)).toEqual([orphan.key])
      expect(yield* keysIn(store)).toEqual([uploaded.blob.key])
    }))

  it.scopedLive("leaves an unrecorded blob when the database connection is cut between upload and record; gc collects it and nothing else", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(() => createDatabase("blobs"))
      yield* Migrations.run().pipe(Effect.provide(databaseLayer(url)))
      const proxy = yield* FaultProxy.scoped(url)
      const root = yield* tempRoot
      const { blobs, documents, store } = yield* servicesOn(databaseLayer(proxy.url(url)), fileSystem(root))
      const workspaceId = randomUUID()
      const kept = yield* blobs.upload({ kind: "input", workspaceId, name: "kept.txt" }, bytes("referenced bytes"))

      // The blob is stored; the statement recording it is cut on its way to the server.
      const orphanKey = `sha256/${createHash("sha256").update("orphaned bytes").digest("hex")}`
      const cut = proxy.when({ direction: "toServer", contains: orphanKey, action: "cut" })
      const failed = yield* Effect.flip(blobs.upload({ kind: "input", workspaceId, name: "lost.txt" }, bytes("orphaned bytes")))
      yield* Effect.promise(() => cut)
      expect(failed._tag).toBe("DatabaseError")
      expect(yield* Effect.flip(documents.find({ kind: "input", workspaceId, name: "lost.txt" }))).toMatchObject({
        _tag: "DocumentNotFound"
      })
      expect(yield* keysIn(store)).toContain(orphanKey)

      // A write in flight: its blob is stored, its version not yet recorded.
      const inFlight = yield* store.put(bytes("about to be recorded"))
      yield* age(root, kept.blob.key, 2)
      yield* age(root, orphanKey, 2)

      const dryRun = yield* blobs.gc({ grace: "1 hour", dryRun: true })
      expect(dryRun).toMatchObject({ dryRun: true, scanned: 3, referenced: 1, recent: 1, removedBytes: 14 })
      expect(dryRun.removed.map((info) => info.key)).toEqual([orphanKey])
      expect(yield* keysIn(store)).toContain(orphanKey)

      const report = yield* blobs.gc({ grace: "1 hour" })
      expect(report.removed.map((info) => info.key)).toEqual([orphanKey])
      expect(yield* keysIn(store)).toEqual([kept.blob.key, inFlight.key].sort())
      expect(yield* readAll((yield* blobs.download({ workspaceId, documentId: kept.document.id })).bytes)).toBe(
        "referenced bytes"
      )
      // Uploading the same bytes again refreshes an old content-addressed blob: gc keeps it.
      yield* age(root, inFlight.key, 2)
      yield* store.put(bytes("about to be recorded"))
      expect((yield* blobs.gc({ grace: "1 hour" })).removed).toEqual([])
    }))
})
