/**
 * putMany loads its rows with `COPY` (text format) into temporary tables
 * (src/internal/documents/bulkLoad.ts): the characters COPY reads specially
 * arrive as they were sent, the temporary tables do not outlive a call (two
 * calls, and a retried one, in one caller's transaction), and a load larger
 * than one 64 kB chunk numbers its versions as smaller ones do.
 */
import { randomUUID } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Documents from "../src/Documents.js"
import type { Put } from "../src/internal/documents/keys.js"
import { DocumentsByKey } from "../src/internal/documents/putMany.js"
import { copyText } from "../src/internal/pg/copyIn.js"
import * as NameKey from "../src/NameKey.js"
import { layerMigrated } from "./support/Database.js"

const TestLayer = Documents.layer.pipe(Layer.provideMerge(layerMigrated))

// Tab, newline, carriage return, backslash, and what COPY would read as NULL or as the end of the data.
const awkward = ["a\tb", "line\nbreak", "cr\rlf\r\n", "back\\slash", "\\N", "\\.", "\\", "end\\", "\\t", " \t "]

describe("putMany's COPY", () => {
  it("copyText escapes what text-format COPY reads specially, and spells null \\N", () => {
    expect(copyText(null)).toBe("\\N")
    expect(copyText("\\N")).toBe("\\\\N")
    expect(copyText("a\tb\nc\rd\\e")).toBe("a\\tb\\nc\\rd\\\\e")
    expect(copyText("plain ünïcode")).toBe("plain ünïcode")
  })

  it.layer(TestLayer, { timeout: "60 seconds" })((it) => {
    it.effect("stores values with tabs, newlines, backslashes and \\N exactly as given, and null as null", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const workspaceId = randomUUID()
        const names = ["Ünïcode ∑ \"quoted\" 'single'.csv", "N", " spaced\u00a0name .txt", "pipe|percent%.csv", "tab like\u2009thin"]
        const requests: Array<Documents.PutRequest> = [
          ...awkward.map((text, i) => ({
            kind: "input" as const,
            workspaceId,
            name: names[i % names.length]!,
            version: { storageKey: `k/${text}`, storageVersionId: text.trim() === "" ? `v${text}` : text, byteSize: 2 ** 53 - 1 - i }
          })),
          {
            kind: "output",
            workspaceId,
            name: "out.bin",
            version: { storageKey: "\\N", storageVersionId: null, contentType: "text/plain; x=\"a\\b\"", byteSize: 2n ** 62n }
          },
          { kind: "log", workspaceId, name: "run.log", runId: randomUUID(), version: { storageKey: "\\.", byteSize: 0, sha256: "AB".repeat(32) } }
        ]
        const imported = yield* documents.putMany(requests)
        for (const [i, request] of requests.entries()) {
          const { documentId, versionNo } = imported[i]!
          const stored = yield* documents.version({ workspaceId, documentId, versionNo })
          const document = yield* documents.get({ workspaceId, documentId })
          expect(document.name).toBe(request.name.trim())
          expect(stored.storageKey).toBe(request.version.storageKey)
          expect(stored.storageVersionId).toBe(request.version.storageVersionId ?? null)
          expect(stored.byteSize).toBe(BigInt(request.version.byteSize))
        }
        const output = yield* documents.latestVersion({ workspaceId, documentId: imported[awkward.length]!.documentId })
        expect([output.storageVersionId, output.contentType]).toEqual([null, "text/plain; x=\"a\\b\""])
        // An output with neither source nor run is keyed by its own id, as put keys it.
        const lone = yield* documents.get({ workspaceId, documentId: imported[awkward.length]!.documentId })
        expect(lone.nameKey).toBe(`output:${lone.id}`)
        const log = yield* documents.latestVersion({ workspaceId, documentId: imported[awkward.length + 1]!.documentId })
        expect([log.sha256, log.storageVersionId, log.contentType]).toEqual(["ab".repeat(32), null, "text/plain"])
      }))

    it.effect("a value the server refuses during the COPY fails the call with DatabaseError, writes nothing, and the next call works", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        const request = (byteSize: bigint) => ({ kind: "input" as const, workspaceId, name: `${randomUUID()}.bin`, version: { storageKey: "k", byteSize } })
        // Above bigint's range: valid input, refused by the column's type in the COPY of the versions.
        const error = yield* Effect.flip(documents.putMany([request(1n), request(2n ** 63n)]))
        expect(error._tag).toBe("DatabaseError")
        expect(error.message).toContain("out of range for type bigint")
        const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM files WHERE workspace_id = ${workspaceId}`
        expect(row!.n).toBe(0)
        expect(yield* documents.putMany([request(1n), request(2n)])).toHaveLength(2)
      }))

    it.effect("two calls in one caller's transaction, the second a replay that retries, leave no temporary table", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        const requests = Array.from({ length: 30 }, (_, i) => ({
          kind: "input" as const, workspaceId, name: `t-${i % 9}.pdf`, version: { id: randomUUID(), storageKey: `k/${i}`, byteSize: i }
        }))
        const [first, again, temporary] = yield* sql.withTransaction(Effect.gen(function*() {
          const first = yield* documents.putMany(requests)
          // Its first try fails on the version ids taken (rolled back to its savepoint), the second replays.
          const again = yield* documents.putMany(requests)
          const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'docstore_put_%'`
          return [first, again, row!.n] as const
        }))
        expect(again.every((i) => i.replayed)).toBe(true)
        expect(again.map(({ replayed: _, ...i }) => i)).toEqual(first.map(({ replayed: _, ...i }) => i))
        expect(temporary).toBe(0)
      }))

    it.effect("a load of many 64 kB chunks into existing and new documents numbers every version in request order", () =>
      Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        const name = (i: number) => `chunk-${i % 1500}.csv`
        const existing = yield* documents.putMany(
          Array.from({ length: 500 }, (_, i) => ({ kind: "input" as const, workspaceId, name: name(i), version: { storageKey: `old/${i}`, byteSize: 1 } }))
        )
        const requests = Array.from({ length: 6000 }, (_, i) => ({
          kind: "input" as const,
          workspaceId,
          name: name(i),
          version: { storageKey: `new/${i}/${awkward[i % awkward.length]}/${"x".repeat(i % 300)}`, byteSize: i }
        }))
        const imported = yield* documents.putMany(requests)
        for (const [i, row] of imported.entries()) {
          // Keys 0-499 had one version before; each key gets 4 of the 6,000, in request order.
          expect(row.versionNo).toBe(Math.floor(i / 1500) + 1 + (i % 1500 < 500 ? 1 : 0))
          if (i % 1500 < 500) expect(row.documentId).toBe(existing[i % 1500]!.documentId)
        }
        const rows = yield* sql<{ storageKey: string; byteSize: bigint }>`
          SELECT v.storage_key, v.byte_size FROM file_versions v JOIN files f ON f.id = v.file_id
          WHERE f.workspace_id = ${workspaceId} AND v.storage_key LIKE 'new/%' ORDER BY v.byte_size`
        expect(rows.map((r) => r.storageKey)).toEqual(requests.map((r) => r.version.storageKey))
      }))
  })
})

describe("putMany's lock order", () => {
  it("locks a batch's documents in the order of their joined keys workspace/kind/nameKey, as it always has", () => {
    // A few workspaces, so that keys often share a workspace and a kind.
    const keys = fc.uniqueArray(fc.uuid(), { minLength: 1, maxLength: 3 }).chain((workspaces) =>
      fc.array(fc.record({
        workspaceId: fc.constantFrom(...workspaces),
        kind: fc.constantFrom(...NameKey.kinds),
        nameKey: fc.string({ unit: "binary", maxLength: 12 })
      }), { maxLength: 60 })
    )
    fc.assert(fc.property(keys, (keys) => {
      const documents = new DocumentsByKey()
      for (const { kind, nameKey, workspaceId } of keys) documents.of({ kind, workspaceId } as Put, nameKey, "")
      const joined = (key: { readonly workspaceId: string; readonly kind: string; readonly nameKey: string }) =>
        `${key.workspaceId}/${key.kind}/${key.nameKey}`
      expect(documents.sorted().map((target) => joined({ ...target.request, nameKey: target.nameKey }))).toEqual(
        [...new Set(keys.map(joined))].sort()
      )
    }))
  })
})
