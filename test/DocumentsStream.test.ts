/**
 * putStream: an import of any length in one transaction, read in chunks of
 * 10,000 writes. Across chunk boundaries it behaves as one putMany: versions
 * of a key numbered in stream order, a version id once per stream, all or
 * nothing (a bad write, a missing source, a failing stream), and a repeated
 * stream replays.
 */
import { randomUUID } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Documents from "../src/Documents.js"
import { chunkSize } from "../src/internal/documents/putStream.js"
import { layerMigrated } from "./support/Database.js"

const TestLayer = Documents.layer.pipe(Layer.provideMerge(layerMigrated))

// Three chunks, the last one partial.
const length = 2 * chunkSize + 5_000

/** Writes `i` of an import: 1,000 names, so every name has writes in every chunk. */
const importOf = (workspaceId: string, ids = Array.from({ length }, () => randomUUID())) =>
  ids.map((id, i): Documents.PutRequest => ({
    kind: "input",
    workspaceId,
    name: `n-${i % 1000}.csv`,
    version: { id, storageKey: `k/${i}`, byteSize: i }
  }))

const counts = (workspaceId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ files: number; versions: number; changes: number }>`
      SELECT (SELECT count(*)::int FROM files WHERE workspace_id = ${workspaceId}) AS files,
             (SELECT count(*)::int FROM file_versions v JOIN files f ON f.id = v.file_id
               WHERE f.workspace_id = ${workspaceId}) AS versions,
             (SELECT count(*)::int FROM document_changes WHERE workspace_id = ${workspaceId}) AS changes`.pipe(
      Effect.map((rows) => rows[0]!)
    ))

const nothing = { files: 0, versions: 0, changes: 0 }

describe("Documents.putStream", () => {
  it.layer(TestLayer, { timeout: "120 seconds" })((it) => {
    it.effect("writes every version of a stream of three chunks, numbering each key's versions in stream order", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        // 500 of the names exist before, with one version.
        yield* documents.putMany(importOf(workspaceId).slice(0, 500))
        const requests = importOf(workspaceId)
        const streamed = yield* documents.putStream(Stream.fromIterable(requests))
        expect(streamed).toEqual({ written: length, replayed: 0 })
        const rows = yield* sql<{ name: string; versionNo: number; byteSize: bigint }>`
          SELECT f.name, v.version_no, v.byte_size FROM file_versions v JOIN files f ON f.id = v.file_id
          WHERE f.workspace_id = ${workspaceId} AND v.storage_key LIKE 'k/%' AND v.id = ANY(${requests.map((r) => r.version.id!)}::uuid[])
          ORDER BY v.byte_size`
        expect(rows).toHaveLength(length)
        for (const [i, row] of rows.entries()) {
          expect(row.name).toBe(`n-${i % 1000}.csv`)
          expect(row.versionNo).toBe(Math.floor(i / 1000) + 1 + (i % 1000 < 500 ? 1 : 0))
        }
        expect(yield* counts(workspaceId)).toEqual({ files: 1000, versions: 500 + length, changes: 1000 + 500 + length })
        const [temporary] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'docstore_%' AND relpersistence = 't'`
        expect(temporary!.n).toBe(0)
      }))

    it.effect("an empty stream writes nothing", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        expect(yield* documents.putStream(Stream.empty)).toEqual({ written: 0, replayed: 0 })
      }))

    it.effect("a write that does not decode, in the last chunk, fails the stream naming its index, and nothing is written", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const requests = importOf(workspaceId)
        const bad = 2 * chunkSize + 1234
        requests[bad] = { ...requests[bad]!, version: { storageKey: "k", byteSize: -1 } }
        const error = yield* Effect.flip(documents.putStream(Stream.fromIterable(requests)))
        expect(error).toMatchObject({ _tag: "InvalidInput", field: `${bad}.version.byteSize` })
        expect(yield* counts(workspaceId)).toEqual(nothing)
      }))

    it.effect("a version id given twice, in different chunks, is refused at its second write, and nothing is written", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const requests = importOf(workspaceId)
        const repeat = chunkSize + 17
        requests[repeat] = { ...requests[repeat]!, version: { ...requests[repeat]!.version, id: requests[3]!.version.id } }
        const error = yield* Effect.flip(documents.putStream(Stream.fromIterable(requests)))
        expect(error).toMatchObject({ _tag: "InvalidInput", field: `${repeat}.version.id`, message: "is repeated within the request" })
        expect(yield* counts(workspaceId)).toEqual(nothing)
      }))

    it.effect("a source document missing in the second chunk fails the stream with DocumentNotFound, and nothing is written", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const missing = randomUUID()
        const requests = importOf(workspaceId)
        requests[chunkSize + 5] = { kind: "output", workspaceId, name: "out.json", sourceDocumentId: missing, version: { storageKey: "o", byteSize: 1 } }
        const error = yield* Effect.flip(documents.putStream(Stream.fromIterable(requests)))
        expect(error).toMatchObject({ _tag: "DocumentNotFound", documentId: missing })
        expect(yield* counts(workspaceId)).toEqual(nothing)
      }))

    it.effect("a stream that fails after two chunks fails the call with its error, and nothing is written", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const failing = Stream.concat(
          Stream.fromIterable(importOf(workspaceId).slice(0, 2 * chunkSize + 10)),
          Stream.fail("the source went away" as const)
        )
        expect(yield* Effect.flip(documents.putStream(failing))).toBe("the source went away")
        expect(yield* counts(workspaceId)).toEqual(nothing)
      }))

    it.effect("the same stream again replays every write; with one write changed it conflicts and writes nothing", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const requests = importOf(workspaceId)
        expect(yield* documents.putStream(Stream.fromIterable(requests))).toEqual({ written: length, replayed: 0 })
        const before = yield* counts(workspaceId)
        expect(yield* documents.putStream(Stream.fromIterable(requests))).toEqual({ written: 0, replayed: length })
        // A stream that adds new writes after replayed ones: the new ones are written.
        const more = importOf(workspaceId, Array.from({ length: 10 }, () => randomUUID()))
        expect(yield* documents.putStream(Stream.fromIterable([...requests.slice(0, chunkSize + 1), ...more])))
          .toEqual({ written: 10, replayed: chunkSize + 1 })
        const changed = [...requests]
        changed[chunkSize + 3] = { ...changed[chunkSize + 3]!, version: { ...changed[chunkSize + 3]!.version, byteSize: 1 } }
        const error = yield* Effect.flip(documents.putStream(Stream.fromIterable(changed)))
        expect(error._tag).toBe("Conflict")
        expect(error.message).toContain("byteSize")
        expect(yield* counts(workspaceId)).toEqual({ ...before, versions: before.versions + 10, changes: before.changes + 10 })
      }))

    it.effect("two streams writing to the same keys at once both commit, each key's versions numbered without gaps", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        // One chunk each: the same keys, locked in one order by both.
        const one = () => Stream.fromIterable(importOf(workspaceId).slice(0, chunkSize))
        const results = yield* Effect.all([documents.putStream(one()), documents.putStream(one())], { concurrency: 2 })
        expect(results).toEqual([{ written: chunkSize, replayed: 0 }, { written: chunkSize, replayed: 0 }])
        const numbers = yield* sql<{ n: number; top: number }>`
          SELECT count(*)::int AS n, max(version_no) AS top FROM file_versions v JOIN files f ON f.id = v.file_id
          WHERE f.workspace_id = ${workspaceId} GROUP BY f.id`
        expect(numbers).toHaveLength(1000)
        for (const key of numbers) expect(key).toEqual({ n: 2 * chunkSize / 1000, top: 2 * chunkSize / 1000 })
      }))
  })
})
