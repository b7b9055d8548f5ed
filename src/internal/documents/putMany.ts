/**
 * `putMany`: many versions in one transaction, with a fixed number of
 * set-based statements whatever the size.
 */
import { randomUUID } from "node:crypto"
import * as Effect from "effect/Effect"
import type { Imported } from "../../Documents.js"
import { InvalidInput } from "../../Errors.js"
import type { DocumentId, VersionId } from "../../Ids.js"
import * as NameKey from "../../NameKey.js"
import type { Version } from "../../Version.js"
import { contentTypeOf, keyedByOwnId, keySource, type Put, sourceOf } from "./keys.js"
import { loader, type Loader, type VersionRow } from "./bulkLoad.js"
import { raceOnVersionId, replayConflict, type StoredTarget, versionIdTaken } from "./replay.js"
import { decodeVersion, notFound, type Store } from "./store.js"

/** One write; its document's id and its number there are filled in once the documents are upserted. */
interface Planned extends VersionRow {
  documentId: string
  versionNo: number
}

/** One files row per key; the writes to it become its next versions, in request order. */
export interface Target {
  readonly request: Put
  id: string
  readonly nameKey: string
  next: number
}

/**
 * The batch's documents by workspace, kind and name key, in nested maps: one map keyed by the three joined
 * cost a join and a hash of a long string per write, most of what putMany spent on keys (docs/scaling.md).
 */
export class DocumentsByKey {
  private readonly byWorkspace = new Map<string, Map<string, Map<string, Target>>>()
  size = 0

  private keys(workspaceId: string, kind: string) {
    let byKind = this.byWorkspace.get(workspaceId)
    if (byKind === undefined) this.byWorkspace.set(workspaceId, byKind = new Map())
    let byName = byKind.get(kind)
    if (byName === undefined) byKind.set(kind, byName = new Map())
    return byName
  }

  /**
   * The document of a write's key: the one an earlier write of the batch named, else a new one (its id
   * drawn here unless the key holds it).
   */
  of(request: Put, nameKey: string, ownId: string) {
    const byName = this.keys(request.workspaceId, request.kind)
    let target = byName.get(nameKey)
    if (target === undefined) {
      byName.set(nameKey, target = { request, id: ownId || randomUUID(), nameKey, next: 0 })
      this.size++
    }
    return target
  }

  get(workspaceId: string, kind: string, nameKey: string) {
    return this.byWorkspace.get(workspaceId)?.get(kind)?.get(nameKey)
  }

  /**
   * In the order of their joined keys `workspace/kind/nameKey` (by UTF-16 code units), as putMany always
   * locked them: a workspace id has a fixed length and no kind is the start of another, so sorting by
   * each part in turn gives that order.
   */
  sorted(): Array<Target> {
    const sorted: Array<Target> = []
    for (const workspaceId of [...this.byWorkspace.keys()].sort()) {
      const byKind = this.byWorkspace.get(workspaceId)!
      for (const kind of [...byKind.keys()].sort()) {
        const byName = byKind.get(kind)!
        for (const nameKey of [...byName.keys()].sort()) sorted.push(byName.get(nameKey)!)
      }
    }
    return sorted
  }

  values() {
    return [...this.byWorkspace.values()].flatMap((byKind) => [...byKind.values()].flatMap((byName) => [...byName.values()]))
  }
}

const plan = (requests: ReadonlyArray<Put>, offset: number) =>
  Effect.gen(function*() {
    const planned = requests.map((request): Planned => ({
      request,
      contentType: contentTypeOf(request),
      versionId: request.version.id ?? randomUUID(),
      documentId: "",
      versionNo: 0
    }))
    const seen = new Set<string>()
    for (const [i, p] of planned.entries()) {
      if (p.request.version.id === undefined) continue
      if (seen.has(p.versionId)) {
        return yield* new InvalidInput({ field: `${offset + i}.version.id`, message: "is repeated within the request" })
      }
      seen.add(p.versionId)
    }
    return planned
  })

/** A version written before is replayed (after checking it is the same write), not written again. */
const findReplays = (store: Store, planned: ReadonlyArray<Planned>) =>
  Effect.gen(function*() {
    const replayed = new Map<string, Version>()
    const given = planned.filter((p) => p.request.version.id !== undefined)
    if (given.length === 0) return replayed
    const rows = yield* store.sql<StoredTarget & { readonly id: string }>`
      SELECT v.*, f.workspace_id, f.kind, f.name_key
      FROM file_versions v JOIN files f ON f.id = v.file_id
      WHERE v.id = ANY(${given.map((p) => p.versionId)}::uuid[])`
    const byId = new Map(rows.map((row) => [row.id, row]))
    for (const p of given) {
      const row = byId.get(p.versionId)
      if (row === undefined) continue
      const stored = yield* decodeVersion(row)
      yield* replayConflict(p.request, p.contentType, stored, row)
      replayed.set(p.versionId, stored)
    }
    return replayed
  })

/** Each output's source must be a document of its workspace. */
const checkSources = (store: Store, fresh: ReadonlyArray<Planned>) =>
  Effect.gen(function*() {
    const sources = new Map<string, { readonly workspaceId: string; readonly documentId: string }>()
    for (const { request } of fresh) {
      const documentId = sourceOf(request)
      if (documentId !== null) {
        sources.set(`${request.workspaceId}/${documentId}`, { workspaceId: request.workspaceId, documentId })
      }
    }
    if (sources.size === 0) return
    const wanted = [...sources.values()]
    const found = yield* store.sql<{ workspaceId: string; id: string }>`
      SELECT workspace_id, id FROM files
      WHERE (workspace_id, id) IN (
        SELECT * FROM unnest(${wanted.map((s) => s.workspaceId)}::uuid[], ${wanted.map((s) => s.documentId)}::uuid[]))`
    const present = new Set(found.map((row) => `${row.workspaceId}/${row.id}`))
    const missing = [...sources].find(([key]) => !present.has(key))
    if (missing !== undefined) return yield* Effect.fail(notFound(missing[1].documentId))
  })

/**
 * Creates the documents that are new and locks the ones that exist, keys in one order (two imports that
 * share keys queue instead of deadlocking), then reads the latest versions of those that existed.
 */
const upsertDocuments = (store: Store, load: Loader, documents: DocumentsByKey) =>
  Effect.gen(function*() {
    if (documents.size === 0) return
    const existing = yield* load.upsertDocuments(documents.sorted())
    if (existing.length === 0) return
    for (const row of existing) documents.get(row.workspaceId, row.kind, row.nameKey)!.id = row.id
    // Read by a statement of its own: its snapshot is taken after the upsert locked them, so it sees the
    // version a previous lock holder committed.
    const latest = yield* store.sql<{ fileId: string; latest: number }>`
      SELECT file_id, max(version_no) AS latest FROM file_versions
      WHERE file_id = ANY(${existing.map((row) => row.id)}::uuid[]) GROUP BY file_id`
    const byId = new Map(latest.map((row) => [row.fileId, row.latest]))
    for (const document of documents.values()) document.next = byId.get(document.id) ?? 0
  })

/**
 * The writes of one putMany, or of one chunk of a putStream (whose first write is the stream's write
 * `offset`), in the caller's transaction.
 */
export const writeBatch = (store: Store, requests: ReadonlyArray<Put>, offset: number, lookForReplays: boolean) =>
  Effect.gen(function*() {
    const planned = yield* plan(requests, offset)
    const replayed = lookForReplays ? yield* findReplays(store, planned) : new Map<string, Version>()
    const fresh = replayed.size === 0 ? planned : planned.filter((p) => !replayed.has(p.versionId))
    yield* checkSources(store, fresh)
    const documents = new DocumentsByKey()
    const targets = fresh.map(({ request }) => {
      // Only an output with neither source nor run has its own id in its key; other ids are drawn for new keys.
      const ownId = keyedByOwnId(request) ? randomUUID() : ""
      return documents.of(request, NameKey.nameKey(keySource(request, ownId)), ownId)
    })
    const load = yield* loader(store)
    yield* upsertDocuments(store, load, documents)
    // Numbered here, so nothing needs to come back.
    fresh.forEach((write, i) => {
      const document = targets[i]!
      write.documentId = document.id
      write.versionNo = ++document.next
    })
    if (fresh.length > 0) yield* load.insertVersions(fresh)
    return planned.map((p): Imported => {
      const old = replayed.get(p.versionId)
      return old === undefined
        ? { documentId: p.documentId as DocumentId, versionId: p.versionId as VersionId, versionNo: p.versionNo, replayed: false }
        : { documentId: old.documentId, versionId: old.id, versionNo: old.versionNo, replayed: true }
    })
  })

const writeMany = (store: Store, requests: ReadonlyArray<Put>, lookForReplays: boolean) =>
  writeBatch(store, requests, 0, lookForReplays).pipe(
    // Under isolation a call holds one workspace's writes (putMany checks it).
    store.isolation.transaction(requests[0]!.workspaceId),
    Effect.tap((imported) => imported.some((i) => !i.replayed) ? store.wakeup.notify : Effect.void)
  )

/** Under tenant isolation a transaction sees one workspace, so a bulk write names one. */
export const oneWorkspace = (requests: ReadonlyArray<Put>, workspaceId: string, offset: number, call: string) => {
  const other = requests.findIndex((request) => request.workspaceId !== workspaceId)
  return other < 0 ? Effect.void : Effect.fail(
    new InvalidInput({
      field: `${offset + other}.workspaceId`,
      message: `must be the workspace of the first write: under tenant isolation one ${call} writes to one workspace`
    })
  )
}

/**
 * Imports write new versions far more often than they repeat one: the first try does not look for
 * earlier writes of the ids (a query over every id given), and a taken id rolls it back whole. The
 * second looks for them, and replays or conflicts.
 */
export const putMany = (store: Store) => (requests: ReadonlyArray<Put>) =>
  Effect.zipRight(
    store.isolation.enabled ? oneWorkspace(requests, requests[0]!.workspaceId, 0, "putMany") : Effect.void,
    optimistically((lookForReplays) => writeMany(store, requests, lookForReplays))
  )

/** The first try without looking for replays; a taken version id, the second try looking for them. */
export const optimistically = <A, E, R>(attempt: (lookForReplays: boolean) => Effect.Effect<A, E, R>) =>
  attempt(false).pipe(Effect.catchIf(versionIdTaken, () => raceOnVersionId(attempt(true), null)))
