import { randomUUID } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Str from "effect/String"
import * as PgClient from "@effect/sql-pg/PgClient"
import pg from "pg"
import * as Documents from "../src/Documents.js"
import * as Migrations from "../src/Migrations.js"
import { layer as clientLayer, createDatabase, layerMigrated } from "./support/Database.js"

const sha = (seed: string) => seed.repeat(64).slice(0, 64)
const version = (overrides: Partial<Documents.VersionInput> = {}): Documents.VersionInput => ({
  storageKey: `blobs/${randomUUID()}`,
  byteSize: 1024,
  ...overrides
})

const counts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ files: bigint; versions: bigint; changes: bigint }>`
    SELECT (SELECT count(*) FROM files) AS files,
           (SELECT count(*) FROM file_versions) AS versions,
           (SELECT count(*) FROM document_changes) AS changes`
  return row!
})

const TestLayer = Documents.layer.pipe(Layer.provideMerge(layerMigrated))

describe("Documents", () => {
  it.layer(TestLayer, { timeout: "60 seconds" })((it) => {
    describe("keys by kind", () => {
      it.effect("an input uploaded as Report.pdf and later as ' report.PDF' is one document with versions 1 and 2", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const first = yield* documents.put({ kind: "input", workspaceId, name: "Report.pdf", version: version() })
          const second = yield* documents.put({ kind: "input", workspaceId, name: " report.PDF", version: version() })
          expect(second.document.id).toBe(first.document.id)
          expect(first.document.nameKey).toBe("report.pdf")
          expect(first.document.name).toBe("Report.pdf")
          expect([first.version.versionNo, second.version.versionNo]).toEqual([1, 2])
          const versions = yield* documents.versions({ workspaceId, documentId: first.document.id })
          expect(versions.map((v) => v.versionNo)).toEqual([1, 2])
          const found = yield* documents.find({ kind: "input", workspaceId, name: "REPORT.PDF  " })
          expect(found.id).toBe(first.document.id)
        }))

      it.effect("a second run's output of the same source becomes version 2 of that output", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const input = yield* documents.put({ kind: "input", workspaceId, name: "data.csv", version: version() })
          const source = input.document.id
          const run1 = yield* documents.put({
            kind: "output", workspaceId, name: "summary.json", sourceDocumentId: source, runId: randomUUID(), version: version()
          })
          const run2 = yield* documents.put({
            kind: "output", workspaceId, name: "summary.json", sourceDocumentId: source, runId: randomUUID(), version: version()
          })
          expect(run2.document.id).toBe(run1.document.id)
          expect(run1.document.nameKey).toBe(`output:${source}`)
          expect(run1.document.sourceDocumentId).toBe(source)
          expect([run1.version.versionNo, run2.version.versionNo]).toEqual([1, 2])
          expect((yield* documents.find({ kind: "output", workspaceId, sourceDocumentId: source })).id).toBe(run1.document.id)
        }))

      it.effect("an output without a source is keyed by its run; with neither it is a document of its own", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const runId = randomUUID()
          const a = yield* documents.put({ kind: "output", workspaceId, name: "out.txt", runId, version: version() })
          const b = yield* documents.put({ kind: "output", workspaceId, name: "out.txt", runId, version: version() })
          expect(a.document.nameKey).toBe(`output:${runId}`)
          expect(b.document.id).toBe(a.document.id)
          expect(b.version.versionNo).toBe(2)
          expect((yield* documents.find({ kind: "output", workspaceId, runId })).id).toBe(a.document.id)
          const lone1 = yield* documents.put({ kind: "output", workspaceId, name: "lone.txt", version: version() })
          const lone2 = yield* documents.put({ kind: "output", workspaceId, name: "lone.txt", version: version() })
          expect(lone1.document.id).not.toBe(lone2.document.id)
          expect(lone1.document.nameKey).toBe(`output:${lone1.document.id}`)
        }))

      it.effect("a log is keyed by its run and an export by its export job", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const runId = randomUUID()
          const exportJobId = randomUUID()
          const log = yield* documents.put({ kind: "log", workspaceId, name: "run.log", runId, version: version() })
          const log2 = yield* documents.put({ kind: "log", workspaceId, name: "run.log", runId, version: version() })
          const exported = yield* documents.put({
            kind: "export", workspaceId, name: "export.zip", exportJobId, version: version()
          })
          expect(log.document.nameKey).toBe(`log:${runId}`)
          expect(log2.version.versionNo).toBe(2)
          expect(exported.document.nameKey).toBe(`export:${exportJobId}`)
          expect((yield* documents.find({ kind: "log", workspaceId, runId })).id).toBe(log.document.id)
          expect((yield* documents.find({ kind: "export", workspaceId, exportJobId })).id).toBe(exported.document.id)
        }))
    })

    it.effect("50 concurrent writes to one key give one document with versions exactly 1..50", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        const written = yield* Effect.all(
          Array.from({ length: 50 }, (_, i) =>
            documents.put({ kind: "input", workspaceId, name: i % 2 ? "Busy.txt" : " busy.TXT", version: version() })),
          { concurrency: "unbounded" }
        )
        expect(new Set(written.map((w) => w.document.id)).size).toBe(1)
        const documentId = written[0]!.document.id
        const versions = yield* documents.versions({ workspaceId, documentId })
        expect(versions.map((v) => v.versionNo)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
        expect(written.map((w) => w.version.versionNo).sort((a, b) => a - b)).toEqual(versions.map((v) => v.versionNo))
        // The feed sees them in version order: per document, changes commit in the order they are numbered.
        const changes = yield* sql<{ op: string; versionNo: number | null }>`
          SELECT op, version_no FROM document_changes WHERE document_id = ${documentId} ORDER BY tx_id, id`
        expect(changes[0]).toEqual({ op: "created", versionNo: null })
        expect(changes.slice(1).map((c) => c.versionNo)).toEqual(versions.map((v) => v.versionNo))
      }))

    it.effect("concurrent first writes to a new key, burst after burst: the feed has each document's versions in order", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        for (let burst = 0; burst < 30; burst++) {
          const written = yield* Effect.all(
            Array.from({ length: 8 }, () => documents.put({ kind: "input", workspaceId, name: `new-${burst}.txt`, version: version() })),
            { concurrency: "unbounded" }
          )
          const changes = yield* sql<{ versionNo: number | null }>`
            SELECT version_no FROM document_changes
            WHERE document_id = ${written[0]!.document.id} AND op = 'version_added' ORDER BY tx_id, id`
          expect(changes.map((c) => c.versionNo)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
        }
      }))

    it.effect("a delete racing writes to the same document: in the feed, the deletion is the document's last change", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        // The writers spell the workspace id in capitals: the lock is on the id, not on how it was written.
        const spelled = workspaceId.toUpperCase()
        for (let round = 0; round < 30; round++) {
          const name = `doomed-${round}.txt`
          const { document } = yield* documents.put({ kind: "input", workspaceId: spelled, name, version: version() })
          yield* Effect.all([
            ...Array.from({ length: 4 }, () => documents.put({ kind: "input", workspaceId: spelled, name, version: version() })),
            documents.delete({ workspaceId, documentId: document.id }),
            ...Array.from({ length: 4 }, () => documents.put({ kind: "input", workspaceId: spelled, name, version: version() }))
          ], { concurrency: "unbounded" })
          const changes = yield* sql<{ op: string }>`
            SELECT op FROM document_changes WHERE document_id = ${document.id} ORDER BY tx_id, id`
          expect(changes.map((c) => c.op).slice(changes.findIndex((c) => c.op === "deleted"))).toEqual(["deleted"])
        }
      }))

    describe("idempotent retries by client-generated version id", () => {
      it.effect("repeating a write returns the version already written; different metadata is a conflict", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const request = {
            kind: "input" as const,
            workspaceId,
            name: "retry.pdf",
            version: version({ id: randomUUID(), sha256: sha("ab"), storageVersionId: "v1" })
          }
          const first = yield* documents.put(request)
          const before = yield* counts
          const again = yield* documents.put(request)
          expect(again.replayed).toBe(true)
          expect(again.version).toEqual(first.version)
          expect(again.document.id).toBe(first.document.id)
          const conflict = yield* documents.put({ ...request, version: { ...request.version, byteSize: 1 } }).pipe(Effect.flip)
          expect(conflict._tag).toBe("Conflict")
          expect(conflict.message).toMatch(/different byteSize/)
          const elsewhere = yield* documents.put({ ...request, name: "other.pdf" }).pipe(Effect.flip)
          expect(elsewhere._tag).toBe("Conflict")
          expect(yield* counts).toEqual(before)
        }))

      it.effect("a retry that leaves out the optional fields, as the first write did, replays", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          // An output with neither source nor run: keyed by its own id, with everything optional left out.
          const request = { kind: "output" as const, workspaceId, name: "result.csv", version: version({ id: randomUUID() }) }
          const first = yield* documents.put(request)
          expect(first.version).toMatchObject({ storageVersionId: null, sha256: null, contentType: "text/csv" })
          expect(first.document).toMatchObject({ sourceDocumentId: null, runId: null })
          const before = yield* counts
          const again = yield* documents.put(request)
          expect(again).toMatchObject({ replayed: true, version: first.version, document: { id: first.document.id } })
          expect(yield* counts).toEqual(before)
        }))

      it.effect("ten concurrent retries of one write store it once", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const request = { kind: "input" as const, workspaceId, name: "once.pdf", version: version({ id: randomUUID() }) }
          const results = yield* Effect.all(Array.from({ length: 10 }, () => documents.put(request)), {
            concurrency: "unbounded"
          })
          expect(results.filter((r) => !r.replayed)).toHaveLength(1)
          expect(new Set(results.map((r) => r.version.id))).toEqual(new Set([request.version.id]))
          const versions = yield* documents.versions({ workspaceId, documentId: results[0]!.document.id })
          expect(versions).toHaveLength(1)
        }))
    })

    it.effect("stores names full of SQL metacharacters and quotes verbatim", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const names = [
          "'; DROP TABLE files; --",
          "Robert'); DROP TABLE file_versions;--.txt",
          "\"quoted\" and 'single' and `back`",
          "$1 $$ $tag$ %s %_ ? :name",
          "E'\\x00' OR 1=1",
          "naïve café ☕ 日本語.pdf"
        ].filter((name) => !name.includes("\\"))
        for (const name of names) {
          const written = yield* documents.put({ kind: "export", workspaceId, name, exportJobId: randomUUID(), version: version() })
          const read = yield* documents.get({ workspaceId, documentId: written.document.id })
          expect(read.name).toBe(name)
        }
        const input = yield* documents.put({ kind: "input", workspaceId, name: names[0]!, version: version() })
        expect(input.document.nameKey).toBe(names[0]!.toLowerCase())
      }))

    it.effect("gives generated versions a content type, given or inferred; an input may have none", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const runId = randomUUID()
        const given = yield* documents.put({
          kind: "output", workspaceId, name: "a.csv", runId, version: version({ contentType: "text/x-special" })
        })
        const inferred = yield* documents.put({ kind: "log", workspaceId, name: "run.json", runId, version: version() })
        const fallback = yield* documents.put({
          kind: "export", workspaceId, name: "archive", exportJobId: randomUUID(), version: version()
        })
        const input = yield* documents.put({ kind: "input", workspaceId, name: "scan.pdf", version: version() })
        expect(given.version.contentType).toBe("text/x-special")
        expect(inferred.version.contentType).toBe("application/json")
        expect(fallback.version.contentType).toBe("application/octet-stream")
        expect(input.version.contentType).toBeNull()
      }))

    it.effect("keeps every workspace apart: another workspace's document behaves as a missing one", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const owner = randomUUID()
        const stranger = randomUUID()
        const { document } = yield* documents.put({ kind: "input", workspaceId: owner, name: "secret.pdf", version: version() })
        const before = yield* counts
        const ref = { workspaceId: stranger, documentId: document.id }
        const missing = { workspaceId: stranger, documentId: randomUUID() }
        for (const [attempt, missingAttempt] of [
          [documents.get(ref), documents.get(missing)],
          [documents.versions(ref), documents.versions(missing)],
          [documents.latestVersion(ref), documents.latestVersion(missing)],
          [documents.version({ ...ref, versionNo: 1 }), documents.version({ ...missing, versionNo: 1 })],
          [documents.delete(ref), documents.delete(missing)],
          [
            documents.put({ kind: "output", workspaceId: stranger, name: "o.txt", sourceDocumentId: document.id, version: version() }),
            documents.put({ kind: "output", workspaceId: stranger, name: "o.txt", sourceDocumentId: missing.documentId, version: version() })
          ]
        ] as const) {
          const error = yield* Effect.flip(attempt as Effect.Effect<unknown, { _tag: string; message: string }>)
          const expected = yield* Effect.flip(missingAttempt as Effect.Effect<unknown, { _tag: string; message: string }>)
          expect(error._tag).toBe("DocumentNotFound")
          expect(error.message.replace(document.id, "<id>")).toBe(expected.message.replace(missing.documentId, "<id>"))
        }
        expect((yield* documents.list({ workspaceId: stranger })).documents).toEqual([])
        const notFound = yield* Effect.flip(documents.find({ kind: "input", workspaceId: stranger, name: "secret.pdf" }))
        expect(notFound._tag).toBe("DocumentNotFound")
        expect(yield* counts).toEqual(before)
        const own = yield* documents.put({ kind: "input", workspaceId: stranger, name: "secret.pdf", version: version() })
        expect(own.document.id).not.toBe(document.id)
        expect(own.version.versionNo).toBe(1)
      }))

    it.effect("lists a workspace page by page, newest or oldest first, by kind", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const ids: Array<string> = []
        for (let i = 0; i < 7; i++) {
          const written = i % 3 === 2
            ? yield* documents.put({ kind: "log", workspaceId, name: `run-${i}.log`, runId: randomUUID(), version: version() })
            : yield* documents.put({ kind: "input", workspaceId, name: `doc-${i}.pdf`, version: version() })
          ids.push(written.document.id)
        }
        const all = (order: "newest" | "oldest", kind?: "input" | "log") =>
          Effect.gen(function*() {
            const seen: Array<string> = []
            let pageToken: string | undefined
            do {
              const page: Documents.Page = yield* documents.list({
                workspaceId, order, limit: 2, ...(kind ? { kind } : {}), ...(pageToken ? { pageToken } : {})
              })
              expect(page.documents.length).toBeLessThanOrEqual(2)
              seen.push(...page.documents.map((d) => d.id))
              pageToken = page.nextPageToken ?? undefined
            } while (pageToken)
            return seen
          })
        expect(yield* all("oldest")).toEqual(ids)
        expect(yield* all("newest")).toEqual([...ids].reverse())
        expect(yield* all("oldest", "log")).toEqual(ids.filter((_, i) => i % 3 === 2))
        const page = yield* documents.list({ workspaceId, limit: 2 })
        const wrongListing = yield* Effect.flip(documents.list({ workspaceId, order: "oldest", pageToken: page.nextPageToken! }))
        expect(wrongListing).toMatchObject({ _tag: "InvalidInput", field: "pageToken" })
      }))

    it.effect("deletes a document with its versions and records the deletion in the change log", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        const input = yield* documents.put({ kind: "input", workspaceId, name: "gone.pdf", version: version() })
        const output = yield* documents.put({
          kind: "output", workspaceId, name: "derived.csv", sourceDocumentId: input.document.id, version: version()
        })
        yield* documents.delete({ workspaceId, documentId: input.document.id })
        expect((yield* Effect.flip(documents.get({ workspaceId, documentId: input.document.id })))._tag).toBe("DocumentNotFound")
        expect((yield* documents.get({ workspaceId, documentId: output.document.id })).sourceDocumentId).toBeNull()
        const [{ versions }] = yield* sql<{ versions: bigint }>`
          SELECT count(*) AS versions FROM file_versions WHERE file_id = ${input.document.id}`
        expect(versions).toBe(0n)
        const ops = yield* sql<{ op: string }>`
          SELECT op FROM document_changes WHERE document_id = ${input.document.id} ORDER BY tx_id, id`
        expect(ops.map((o) => o.op)).toEqual(["created", "version_added", "deleted"])
        expect((yield* Effect.flip(documents.latestVersion({ workspaceId, documentId: input.document.id })))._tag)
          .toBe("DocumentNotFound")
        const missingVersion = yield* Effect.flip(documents.version({ workspaceId, documentId: output.document.id, versionNo: 9 }))
        expect(missingVersion).toMatchObject({ _tag: "VersionNotFound", versionNo: 9 })
        expect((yield* documents.latestVersion({ workspaceId, documentId: output.document.id })).versionNo).toBe(1)
      }))

    it.effect("logs a new version of an existing document as version_added only, and a change of identity as updated", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        const first = yield* documents.put({ kind: "input", workspaceId, name: "a.pdf", version: version() })
        yield* documents.put({ kind: "input", workspaceId, name: "A.pdf", version: version() })
        // Outside the library: a rename is a change of the document; touching updated_at alone is not.
        yield* sql`UPDATE files SET name = 'renamed.pdf', name_key = 'renamed.pdf' WHERE id = ${first.document.id}`
        yield* sql`UPDATE files SET updated_at = now() WHERE id = ${first.document.id}`
        const ops = yield* sql<{ op: string; versionNo: number | null }>`
          SELECT op, version_no FROM document_changes WHERE document_id = ${first.document.id} ORDER BY tx_id, id`
        expect(ops.map((c) => [c.op, c.versionNo])).toEqual([
          ["created", null], ["version_added", 1], ["version_added", 2], ["updated", null]
        ])
      }))

    describe("bulk writes (putMany)", () => {
      it.effect("writes new documents and next versions of existing ones in one call, in request order", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const sql = yield* SqlClient.SqlClient
          const workspaceId = randomUUID()
          const existing = yield* documents.put({ kind: "input", workspaceId, name: "old.pdf", version: version() })
          const runId = randomUUID()
          const imported = yield* documents.putMany([
            { kind: "input", workspaceId, name: "a.csv", version: version() },
            { kind: "input", workspaceId, name: "OLD.pdf", version: version() },
            { kind: "input", workspaceId, name: " A.csv", version: version() },
            { kind: "log", workspaceId, name: "run.log", runId, version: version() },
            { kind: "output", workspaceId, name: "lone.txt", version: version() },
            { kind: "output", workspaceId, name: "lone.txt", version: version() },
            { kind: "output", workspaceId, name: "sum.json", sourceDocumentId: existing.document.id, version: version() }
          ])
          expect(imported.map((i) => i.versionNo)).toEqual([1, 2, 2, 1, 1, 1, 1])
          expect(imported[0]!.documentId).toBe(imported[2]!.documentId)
          expect(imported[1]!.documentId).toBe(existing.document.id)
          expect(imported[4]!.documentId).not.toBe(imported[5]!.documentId)
          expect(imported.every((i) => !i.replayed)).toBe(true)
          const stored = yield* documents.versions({ workspaceId, documentId: imported[0]!.documentId })
          expect(stored.map((v) => [v.id, v.versionNo])).toEqual([[imported[0]!.versionId, 1], [imported[2]!.versionId, 2]])
          expect((yield* documents.latestVersion({ workspaceId, documentId: imported[6]!.documentId })).contentType)
            .toBe("application/json")
          // One created change per new document and one version_added per version, as single writes would leave.
          const changes = yield* sql<{ op: string; n: bigint }>`
            SELECT op, count(*) AS n FROM document_changes WHERE workspace_id = ${workspaceId} GROUP BY op ORDER BY op`
          expect(changes.map((c) => [c.op, Number(c.n)])).toEqual([["created", 6], ["version_added", 8]])
        }))

      it.effect("is all or nothing: a missing source document fails the whole call and writes nothing", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const before = yield* counts
          const missing = randomUUID()
          const error = yield* Effect.flip(documents.putMany([
            { kind: "input", workspaceId, name: "fine.pdf", version: version() },
            { kind: "output", workspaceId, name: "o.csv", sourceDocumentId: missing, version: version() }
          ]))
          expect(error).toMatchObject({ _tag: "DocumentNotFound", documentId: missing })
          expect(yield* counts).toEqual(before)
        }))

      it.effect("replays a repeated call; a repeated id with different metadata conflicts and writes nothing", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const requests = Array.from({ length: 20 }, (_, i) => ({
            kind: "input" as const, workspaceId, name: `doc-${i % 7}.pdf`, version: version({ id: randomUUID() })
          }))
          const first = yield* documents.putMany(requests)
          const before = yield* counts
          const again = yield* documents.putMany(requests)
          expect(again.map(({ replayed: _, ...i }) => i)).toEqual(first.map(({ replayed: _, ...i }) => i))
          expect(again.every((i) => i.replayed)).toBe(true)
          expect(yield* counts).toEqual(before)
          const changed = requests.map((r, i) => i === 5 ? { ...r, version: { ...r.version, byteSize: 1 } } : r)
          expect((yield* Effect.flip(documents.putMany(changed)))._tag).toBe("Conflict")
          const repeated = [requests[0]!, { ...requests[1]!, version: { ...requests[1]!.version, id: requests[0]!.version.id } }]
          expect(yield* Effect.flip(documents.putMany(repeated))).toMatchObject({ _tag: "InvalidInput", field: "1.version.id" })
          expect(yield* counts).toEqual(before)
        }))

      it.effect("a call mixing versions written before with new ones replays the first and numbers the others, in request order", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const request = (i: number) => ({
            kind: "input" as const, workspaceId, name: `doc-${i % 3}.pdf`, version: version({ id: randomUUID() })
          })
          const earlier = Array.from({ length: 6 }, (_, i) => request(i))
          const first = yield* documents.putMany(earlier)
          const later = Array.from({ length: 6 }, (_, i) => request(i))
          const mixed = earlier.flatMap((r, i) => [later[i]!, r])
          const imported = yield* documents.putMany(mixed)
          expect(imported.map((i) => i.versionId)).toEqual(mixed.map((r) => r.version.id))
          expect(imported.filter((_, i) => i % 2 === 1)).toEqual(first.map((i) => ({ ...i, replayed: true })))
          // Each of the three documents had versions 1 and 2; the new writes are 3 and 4, in request order.
          expect(imported.filter((_, i) => i % 2 === 0).map((i) => [i.documentId, i.versionNo, i.replayed])).toEqual(
            first.map((f, i) => [f.documentId, i < 3 ? 3 : 4, false])
          )
        }))

      it.effect("two concurrent imports over the same keys in opposite orders neither deadlock nor leave gaps", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const workspaceId = randomUUID()
          const names = Array.from({ length: 200 }, (_, i) => `shared-${i}.pdf`)
          const batch = (order: ReadonlyArray<string>) =>
            order.map((name) => ({ kind: "input" as const, workspaceId, name, version: version() }))
          yield* Effect.all([
            documents.putMany(batch(names)),
            documents.putMany(batch([...names].reverse())),
            Effect.forEach(names.slice(0, 50), (name) => documents.put({ kind: "input", workspaceId, name, version: version() }), {
              concurrency: 4
            })
          ], { concurrency: "unbounded" })
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ n: bigint; top: number; distinctNos: bigint }>`
            SELECT count(*) AS n, max(v.version_no) AS top, count(DISTINCT v.version_no) AS distinct_nos
            FROM files f JOIN file_versions v ON v.file_id = f.id
            WHERE f.workspace_id = ${workspaceId} GROUP BY f.id`
          expect(rows).toHaveLength(200)
          for (const row of rows) expect([Number(row.n), Number(row.distinctNos)]).toEqual([row.top, row.top])
          expect(rows.reduce((sum, row) => sum + Number(row.n), 0)).toBe(450)
        }))
    })

    describe("bad input fails with the typed error naming the field, and writes nothing", () => {
      const uuid = fc.uuid()
      const badId = fc.oneof(
        fc.constant(""),
        fc.constant("not-a-uuid"),
        fc.constant("00000000-0000-0000-0000-00000000000g"),
        fc.string({ maxLength: 40 }).filter((s) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s))
      )
      const badName = fc.oneof(
        fc.constantFrom("", "   ", "\t\n"),
        fc.integer({ min: 256, max: 400 }).map((n) => "x".repeat(n)),
        fc.tuple(fc.string({ maxLength: 5 }), fc.integer({ min: 0, max: 0x1f }), fc.string({ maxLength: 5 }))
          .map(([a, code, b]) => `n${a}${String.fromCharCode(code)}${b}n`),
        fc.tuple(fc.string({ maxLength: 5 }), fc.constantFrom("/", "\\"), fc.string({ maxLength: 5 }))
          .map(([a, sep, b]) => `n${a}${sep}${b}n`)
      )
      const badSize = fc.oneof(
        fc.integer({ max: -1 }),
        fc.bigInt({ max: -1n }),
        fc.double({ min: 0.1, max: 1e6, noInteger: true }),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, "12", null)
      )
      const badSha = fc.oneof(
        fc.constantFrom("", "abc", "g".repeat(64), "a".repeat(63), "a".repeat(65)),
        fc.string({ maxLength: 70 }).filter((s) => !/^[0-9a-fA-F]{64}$/.test(s))
      )
      const badKind = fc.string({ maxLength: 12 }).filter((s) => !["input", "output", "log", "export"].includes(s))

      // A valid request, then one field replaced by a bad value: [request, the field that must be named].
      const badPut = fc.oneof(
        fc.tuple(badName, uuid).map(([name, ws]) => [{ kind: "input", workspaceId: ws, name, version: version() }, "name"] as const),
        fc.tuple(badId).map(([ws]) => [{ kind: "input", workspaceId: ws, name: "ok.pdf", version: version() }, "workspaceId"] as const),
        fc.tuple(badKind, uuid).map(([kind, ws]) => [{ kind, workspaceId: ws, name: "ok.pdf", version: version() }, "kind"] as const),
        fc.tuple(badSize, uuid).map(([byteSize, ws]) =>
          [{ kind: "input", workspaceId: ws, name: "ok.pdf", version: { ...version(), byteSize } }, "version.byteSize"] as const),
        fc.tuple(badSha, uuid).map(([sha256, ws]) =>
          [{ kind: "input", workspaceId: ws, name: "ok.pdf", version: { ...version(), sha256 } }, "version.sha256"] as const),
        fc.tuple(badId, uuid).map(([id, ws]) =>
          [{ kind: "input", workspaceId: ws, name: "ok.pdf", version: { ...version(), id } }, "version.id"] as const),
        fc.tuple(fc.constantFrom("", "  "), uuid).map(([storageKey, ws]) =>
          [{ kind: "input", workspaceId: ws, name: "ok.pdf", version: { ...version(), storageKey } }, "version.storageKey"] as const),
        fc.tuple(fc.constantFrom("", " "), uuid).map(([storageVersionId, ws]) =>
          [{ kind: "input", workspaceId: ws, name: "ok.pdf", version: { ...version(), storageVersionId } }, "version.storageVersionId"] as const),
        fc.tuple(fc.constantFrom("pdf", "text/", "a b/c", ""), uuid).map(([contentType, ws]) =>
          [{ kind: "output", workspaceId: ws, name: "ok.pdf", version: { ...version(), contentType } }, "version.contentType"] as const),
        fc.tuple(badId, uuid).map(([source, ws]) =>
          [{ kind: "output", workspaceId: ws, name: "o.csv", sourceDocumentId: source, version: version() }, "sourceDocumentId"] as const),
        fc.tuple(badId, uuid).map(([runId, ws]) =>
          [{ kind: "log", workspaceId: ws, name: "r.log", runId, version: version() }, "runId"] as const),
        fc.tuple(badId, uuid).map(([exportJobId, ws]) =>
          [{ kind: "export", workspaceId: ws, name: "e.zip", exportJobId, version: version() }, "exportJobId"] as const),
        fc.tuple(badName, uuid).map(([name, ws]) =>
          [{ kind: "export", workspaceId: ws, name, exportJobId: randomUUID(), version: version() }, "name"] as const)
      )

      it.effect.prop("put", [badPut], ([[request, field]]) =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const before = yield* counts
          const error = yield* Effect.flip(documents.put(request as Documents.PutRequest))
          expect(error).toMatchObject({ _tag: "InvalidInput", field })
          expect(yield* counts).toEqual(before)
        }), { fastCheck: { numRuns: 150 } })

      it.effect.prop("putMany: one bad request fails the whole call, naming its index", [
        fc.array(fc.uuid(), { minLength: 0, maxLength: 5 }), badPut
      ], ([workspaces, [request, field]]) =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const before = yield* counts
          const good = workspaces.map((workspaceId) => ({ kind: "input" as const, workspaceId, name: "ok.pdf", version: version() }))
          const at = good.length === 0 ? 0 : workspaces[0]!.charCodeAt(0) % (good.length + 1)
          const requests = [...good.slice(0, at), request, ...good.slice(at)] as Array<Documents.PutRequest>
          const error = yield* Effect.flip(documents.putMany(requests))
          expect(error).toMatchObject({ _tag: "InvalidInput", field: `${at}.${field}` })
          expect(yield* counts).toEqual(before)
        }), { fastCheck: { numRuns: 50 } })

      it.effect("putMany: an empty call is bad input", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          expect((yield* Effect.flip(documents.putMany([])))._tag).toBe("InvalidInput")
        }))

      const badRef = fc.oneof(
        fc.tuple(badId, uuid).map(([workspaceId, documentId]) => [{ workspaceId, documentId }, "workspaceId"] as const),
        fc.tuple(uuid, badId).map(([workspaceId, documentId]) => [{ workspaceId, documentId }, "documentId"] as const)
      )

      it.effect.prop("get, versions, latestVersion and delete", [badRef, fc.constantFrom("get" as const, "versions" as const, "latestVersion" as const, "delete" as const)], ([[ref, field], operation]) =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const before = yield* counts
          const error = yield* Effect.flip(documents[operation](ref) as Effect.Effect<unknown, { _tag: string }>)
          expect(error).toMatchObject({ _tag: "InvalidInput", field })
          expect(yield* counts).toEqual(before)
        }))

      it.effect.prop("version", [uuid, fc.oneof(fc.integer({ max: 0 }), fc.double({ noInteger: true }), fc.constant("1"))], ([id, versionNo]) =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const error = yield* Effect.flip(documents.version({ workspaceId: id, documentId: id, versionNo: versionNo as number }))
          expect(error).toMatchObject({ _tag: "InvalidInput", field: "versionNo" })
        }))

      it.effect.prop("list", [
        fc.oneof(
          badId.map((workspaceId) => [{ workspaceId }, "workspaceId"] as const),
          badKind.map((kind) => [{ workspaceId: randomUUID(), kind }, "kind"] as const),
          fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 1001 })).map((limit) => [{ workspaceId: randomUUID(), limit }, "limit"] as const),
          fc.string().filter((s) => s !== "newest" && s !== "oldest").map((order) => [{ workspaceId: randomUUID(), order }, "order"] as const),
          fc.oneof(fc.string(), fc.base64String()).map((pageToken) => [{ workspaceId: randomUUID(), pageToken }, "pageToken"] as const)
        )
      ], ([[request, field]]) =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const error = yield* Effect.flip(documents.list(request as Documents.ListRequest))
          expect(error).toMatchObject({ _tag: "InvalidInput", field })
        }))

      it.effect.prop("find", [
        fc.oneof(
          badId.map((workspaceId) => [{ kind: "input", workspaceId, name: "x" }, "workspaceId"] as const),
          badKind.map((kind) => [{ kind, workspaceId: randomUUID(), name: "x" }, "kind"] as const),
          badId.map((runId) => [{ kind: "log", workspaceId: randomUUID(), runId }, "runId"] as const),
          badId.map((exportJobId) => [{ kind: "export", workspaceId: randomUUID(), exportJobId }, "exportJobId"] as const)
        )
      ], ([[request, field]]) =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const error = yield* Effect.flip(documents.find(request as Documents.FindRequest))
          expect(error).toMatchObject({ _tag: "InvalidInput", field })
        }))
    })
  })

  describe("where put's statement runs (outside a transaction it skips @effect/sql's per-statement path)", () => {
    it.layer(TestLayer, { timeout: "60 seconds" })((it) => {
      it.effect("inside the caller's transaction, put is part of it: rolled back, nothing is written", () =>
        Effect.gen(function*() {
          const documents = yield* Documents.Documents
          const sql = yield* SqlClient.SqlClient
          const workspaceId = randomUUID()
          const before = yield* counts
          let written: Documents.Written | undefined
          const rolledBack = yield* sql.withTransaction(
            Effect.gen(function*() {
              written = yield* documents.put({ kind: "input", workspaceId, name: "draft.pdf", version: version() })
              // The transaction sees its own write...
              expect(yield* documents.get({ workspaceId, documentId: written.document.id })).toEqual(written.document)
              return yield* Effect.fail("roll back" as const)
            })
          ).pipe(Effect.flip)
          expect(rolledBack).toBe("roll back")
          // ...and the rollback takes it away with the change rows its triggers wrote.
          expect(yield* documents.get({ workspaceId, documentId: written!.document.id }).pipe(Effect.flip)).toMatchObject({
            _tag: "DocumentNotFound"
          })
          expect(yield* counts).toEqual(before)
        }))
    })

    it.effect("on a client this library did not build, put goes through @effect/sql and writes the same", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(() => createDatabase())
        yield* Migrations.run().pipe(Effect.provide(clientLayer(url)))
        // Built as Database.layer builds its client (column naming, int8 as bigint), but not by it.
        const foreign = PgClient.layer({
          url: Redacted.make(url),
          transformResultNames: Str.snakeToCamel,
          transformQueryNames: Str.camelToSnake,
          types: { getTypeParser: ((oid: number, format?: "text" | "binary") =>
            oid === 20 ? BigInt : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"] }
        })
        const workspaceId = randomUUID()
        const request = { kind: "output" as const, workspaceId, name: "result.csv", version: version({ sha256: sha("c") }) }
        const written = yield* Documents.Documents.pipe(
          Effect.flatMap((documents) => documents.put(request)),
          Effect.provide(Documents.layer.pipe(Layer.provide(foreign)))
        )
        const stored = yield* Documents.Documents.pipe(
          Effect.flatMap((documents) => Effect.all([
            documents.get({ workspaceId, documentId: written.document.id }),
            documents.latestVersion({ workspaceId, documentId: written.document.id })
          ])),
          Effect.provide(Documents.layer.pipe(Layer.provide(clientLayer(url))))
        )
        expect([written.document, written.version]).toEqual(stored)
        expect(written.version).toMatchObject({ versionNo: 1, byteSize: 1024n, contentType: "text/csv", sha256: sha("c") })
      }))
  })

  it.effect("surfaces a database failure as a typed DatabaseError, not a defect", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(() => createDatabase())
      const result = yield* Documents.Documents.pipe(
        Effect.flatMap((documents) =>
          documents.put({ kind: "input", workspaceId: randomUUID(), name: "a.pdf", version: version() })
        ),
        Effect.provide(Documents.layer.pipe(Layer.provide(clientLayer(url)))),
        Effect.either
      )
      expect(Either.isLeft(result) && result.left._tag).toBe("DatabaseError")
      if (Either.isLeft(result)) expect(result.left.message).toMatch(/relation "files" does not exist/)
    }))
})
