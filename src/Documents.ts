/**
 * The documents service: documents and their versions, every operation
 * scoped by workspace. It owns the tables `files` and `file_versions`.
 *
 * Every input is validated with `Schema` before anything touches the
 * database; a failure is an `InvalidInput` naming the field. Another
 * workspace's document fails exactly as a missing one.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as ContentType from "./ContentType.js"
import { Document, Kind } from "./Document.js"
import { Conflict, DatabaseError, DocumentNotFound, type FeedDiverged, InvalidInput, VersionNotFound } from "./Errors.js"
import { DocumentId, ExportJobId, RunId, VersionId, WorkspaceId } from "./Ids.js"
import * as Cursor from "./internal/cursor.js"
import * as DirectStatement from "./internal/directStatement.js"
import * as FeedGuard from "./internal/feed/guard.js"
import * as PageToken from "./internal/pageToken.js"
import { databaseError, pgCode } from "./internal/sqlError.js"
import { decodeInput } from "./internal/validation.js"
import * as Wakeup from "./internal/wakeup.js"
import * as WrittenRow from "./internal/writtenRow.js"
import * as NameKey from "./NameKey.js"
import * as TenantIsolation from "./TenantIsolation.js"
import { Version } from "./Version.js"

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/**
 * A display name for a new document: trimmed, 1 to 255 characters, no control
 * characters, no `/` or `\`.
 *
 * @since 0.1.0
 */
export const Name = Schema.String.pipe(
  Schema.filter((name) =>
    Either.match(NameKey.validateName(name), { onLeft: NameKey.describeViolation, onRight: () => true })
  ),
  Schema.compose(Schema.Trim)
)

const ContentTypeValue = Schema.String.pipe(
  Schema.maxLength(255),
  Schema.pattern(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\x20-\x7e]*)?$/, {
    message: () => "must be a media type such as text/csv"
  })
)

// An optional field that may also be null; the service reads absent as null. (A default in the schema,
// `optionalWith`, makes the struct a transformation whose fields are all checked twice: it tripled the
// cost of decoding a version.)
const absentAsNull = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/**
 * Where one version's bytes live.
 *
 * @since 0.1.0
 */
export const VersionInput = Schema.Struct({
  /** Client-generated: repeating a write with the same id returns the version already written. */
  id: Schema.optional(VersionId),
  storageKey: Schema.String.pipe(
    Schema.filter((key) => key.trim().length > 0 || "must not be empty"),
    Schema.maxLength(1024)
  ),
  storageVersionId: absentAsNull(Schema.String.pipe(
    Schema.filter((id) => id.trim().length > 0 || "must be null or a non-blank version id"),
    Schema.maxLength(1024)
  )),
  contentType: absentAsNull(ContentTypeValue),
  byteSize: Schema.Union(Schema.NonNegativeInt, Schema.NonNegativeBigIntFromSelf),
  sha256: absentAsNull(Schema.Lowercase.pipe(
    Schema.compose(Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/, {
      message: () => "must be 64 hexadecimal characters"
    })))
  ))
})

/**
 * @since 0.1.0
 */
export type VersionInput = typeof VersionInput.Encoded

const common = { workspaceId: WorkspaceId, name: Name, version: VersionInput }

/**
 * What to write, by kind. The kind decides the document's key: an input by
 * its name, an output by its source document (else its run, else itself), a
 * log by its run, an export by its export job. Writing to a key that exists
 * adds the next version to that document.
 *
 * @since 0.1.0
 */
export const PutRequest = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("input"), ...common }),
  Schema.Struct({
    kind: Schema.Literal("output"),
    ...common,
    sourceDocumentId: absentAsNull(DocumentId),
    runId: absentAsNull(RunId)
  }),
  Schema.Struct({ kind: Schema.Literal("log"), ...common, runId: RunId }),
  Schema.Struct({ kind: Schema.Literal("export"), ...common, exportJobId: ExportJobId })
)

/**
 * @since 0.1.0
 */
export type PutRequest = typeof PutRequest.Encoded

/**
 * The most writes one `putMany` takes; split larger imports into several calls.
 *
 * @since 0.1.0
 */
export const maxBulkWrites = 100_000

/**
 * Many writes at once, for imports: one `PutRequest` per version.
 *
 * @since 0.1.0
 */
export const PutManyRequest = Schema.Array(PutRequest).pipe(Schema.minItems(1), Schema.maxItems(maxBulkWrites))

/**
 * Finding a document by what its key is made of (see `PutRequest`).
 *
 * @since 0.1.0
 */
export const FindRequest = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("input"), workspaceId: WorkspaceId, name: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("output"), workspaceId: WorkspaceId, sourceDocumentId: DocumentId }),
  Schema.Struct({ kind: Schema.Literal("output"), workspaceId: WorkspaceId, runId: RunId }),
  Schema.Struct({ kind: Schema.Literal("log"), workspaceId: WorkspaceId, runId: RunId }),
  Schema.Struct({ kind: Schema.Literal("export"), workspaceId: WorkspaceId, exportJobId: ExportJobId })
)

/**
 * @since 0.1.0
 */
export type FindRequest = typeof FindRequest.Encoded

const DocumentRef = Schema.Struct({ workspaceId: WorkspaceId, documentId: DocumentId })

/**
 * @since 0.1.0
 */
export type DocumentRef = typeof DocumentRef.Encoded

const VersionRef = Schema.Struct({
  workspaceId: WorkspaceId,
  documentId: DocumentId,
  versionNo: Schema.Int.pipe(Schema.positive())
})

/**
 * @since 0.1.0
 */
export type VersionRef = typeof VersionRef.Encoded

/**
 * A page of a workspace's documents, newest (default) or oldest first.
 *
 * @since 0.1.0
 */
export const ListRequest = Schema.Struct({
  workspaceId: WorkspaceId,
  kind: Schema.optional(Kind),
  order: Schema.optionalWith(Schema.Literal("newest", "oldest"), { default: () => "newest" as const }),
  limit: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1000)), { default: () => 100 }),
  pageToken: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 */
export type ListRequest = typeof ListRequest.Encoded

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export interface Written {
  readonly document: Document
  readonly version: Version
  /** `true` when the version id had been written before: nothing new was written. */
  readonly replayed: boolean
}

/**
 * One write of a `putMany`, in request order.
 *
 * @since 0.1.0
 */
export interface Imported {
  readonly documentId: DocumentId
  readonly versionId: VersionId
  readonly versionNo: number
  /** `true` when the version id had been written before: nothing new was written. */
  readonly replayed: boolean
}

/**
 * @since 0.1.0
 */
export interface Page {
  readonly documents: ReadonlyArray<Document>
  /** Continues this listing; `null` on the last page. */
  readonly nextPageToken: string | null
  /**
   * List then watch: streaming the change feed from this cursor misses nothing
   * that changed after this page was read (a change it already shows may come
   * again). When paging, keep the first page's cursor.
   */
  readonly cursor: string
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export class Documents extends Context.Tag("effect-docstore/Documents")<Documents, {
  /** Writes the first or next version of the document the request's kind and key name. */
  readonly put: (request: PutRequest) => Effect.Effect<
    Written,
    InvalidInput | DocumentNotFound | Conflict | DatabaseError | FeedDiverged
  >
  /**
   * Writes many versions (of new or existing documents, in any workspaces) in
   * one transaction with a few set-based statements: all of them or none.
   * Writes to one key become consecutive versions in request order.
   */
  readonly putMany: (requests: ReadonlyArray<PutRequest>) => Effect.Effect<
    ReadonlyArray<Imported>,
    InvalidInput | DocumentNotFound | Conflict | DatabaseError | FeedDiverged
  >
  readonly get: (ref: DocumentRef) => Effect.Effect<Document, InvalidInput | DocumentNotFound | DatabaseError>
  readonly find: (request: FindRequest) => Effect.Effect<Document, InvalidInput | DocumentNotFound | DatabaseError>
  readonly list: (request: ListRequest) => Effect.Effect<Page, InvalidInput | DatabaseError>
  /** Deletes the document and its versions; its changes stay in the log. */
  readonly delete: (ref: DocumentRef) => Effect.Effect<void, InvalidInput | DocumentNotFound | DatabaseError | FeedDiverged>
  /** Every version, oldest first. */
  readonly versions: (
    ref: DocumentRef
  ) => Effect.Effect<ReadonlyArray<Version>, InvalidInput | DocumentNotFound | DatabaseError>
  readonly version: (
    ref: VersionRef
  ) => Effect.Effect<Version, InvalidInput | DocumentNotFound | VersionNotFound | DatabaseError>
  readonly latestVersion: (
    ref: DocumentRef
  ) => Effect.Effect<Version, InvalidInput | DocumentNotFound | VersionNotFound | DatabaseError>
}>() {}

type Put = typeof PutRequest.Type

/**
 * The class (first key) of the advisory locks on document keys (see `keyLock` in `make`): "dkey" in ASCII.
 *
 * @since 0.1.0
 */
export const keyLockClass = 0x646b6579

const sourceOf = (request: Put) => request.kind === "output" ? request.sourceDocumentId ?? null : null
const runOf = (request: Put) => request.kind === "output" || request.kind === "log" ? request.runId ?? null : null

const keySource = (request: Put, documentId: string): NameKey.KeySource => {
  switch (request.kind) {
    case "input":
      return { kind: "input", name: request.name }
    case "output":
      return { kind: "output", sourceFileId: sourceOf(request), runId: runOf(request), id: documentId }
    case "log":
      return { kind: "log", runId: request.runId }
    case "export":
      return { kind: "export", exportJobId: request.exportJobId }
  }
}

const findKey = (request: typeof FindRequest.Type): string => {
  switch (request.kind) {
    case "input":
      return NameKey.nameKey({ kind: "input", name: request.name })
    case "output":
      return "sourceDocumentId" in request
        ? NameKey.nameKey({ kind: "output", sourceFileId: request.sourceDocumentId, runId: null, id: "" })
        : NameKey.nameKey({ kind: "output", sourceFileId: null, runId: request.runId, id: "" })
    case "log":
      return NameKey.nameKey({ kind: "log", runId: request.runId })
    case "export":
      return NameKey.nameKey({ kind: "export", exportJobId: request.exportJobId })
  }
}

// A row that does not decode is a bug of ours: a defect, not an error for callers.
const decodeDocument = (row: unknown) => Effect.orDie(Schema.decodeUnknown(Document)(row))
const decodeVersion = (row: unknown) => Effect.orDie(Schema.decodeUnknown(Version)(row))

const versionTaken = (versionId: string | null) =>
  new Conflict({
    message: `${versionId === null ? "a version id of this request" : `version ${versionId}`} was already written ` +
      `with a different document; a retry must repeat the original write exactly`
  })

// Under tenant isolation a transaction sees one workspace, so a bulk write names one.
const oneWorkspace = (requests: ReadonlyArray<Put>) => {
  const other = requests.findIndex((request) => request.workspaceId !== requests[0]!.workspaceId)
  return other < 0 ? Effect.void : Effect.fail(
    new InvalidInput({
      field: `${other}.workspaceId`,
      message: "must be the workspace of the first write: under tenant isolation one putMany writes to one workspace"
    })
  )
}

const versionIdTaken = (error: unknown) =>
  error instanceof SqlError && pgCode(error).constraint === "file_versions_pkey"

/**
 * A concurrent writer used one of our version ids first: the second try finds its version and replays
 * (or conflicts). Taken again, it was by a write this role cannot see (another workspace, under isolation).
 */
const raceOnVersionId = <A, E, R>(attempt: Effect.Effect<A, E, R>, versionId: string | null) =>
  attempt.pipe(
    Effect.catchIf(versionIdTaken, () => attempt),
    Effect.catchIf(versionIdTaken, () => Effect.fail(versionTaken(versionId)))
  )

const notFound = (documentId: string) =>
  new DocumentNotFound({ documentId, message: `no document ${documentId} in this workspace` })

/** What a retried write must repeat exactly. */
const sameMetadata = (stored: Version, wanted: { readonly [K in keyof Version]?: unknown }): string | undefined => {
  for (const field of ["storageKey", "storageVersionId", "contentType", "byteSize", "sha256"] as const) {
    if (stored[field] !== (wanted[field] ?? null)) return field
  }
  return undefined
}

interface StoredTarget {
  readonly workspaceId: string
  readonly kind: string
  readonly nameKey: string
}

/** A version id written before may only be written again by the very same request. */
const replayConflict = (request: Put, contentType: string | null, stored: Version, target: StoredTarget) => {
  const keyless = request.kind === "output" && sourceOf(request) === null && runOf(request) === null
  const sameTarget = target.workspaceId === request.workspaceId && target.kind === request.kind &&
    (keyless || target.nameKey === NameKey.nameKey(keySource(request, "")))
  const different = sameTarget
    ? sameMetadata(stored, { ...request.version, byteSize: BigInt(request.version.byteSize), contentType })
    : "document"
  return different === undefined ? Effect.void : Effect.fail(
    new Conflict({
      message: `version ${stored.id} was already written with a different ${different}; ` +
        `a retry must repeat the original write exactly`
    })
  )
}

const contentTypeOf = (request: Put) =>
  request.version.contentType ?? (request.kind === "input" ? null : ContentType.infer(request.name))

/**
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // For put's write: sent on the pool directly outside a transaction, its row read as PostgreSQL names the
  // columns (renaming every key cost as much as reading it).
  const direct = DirectStatement.make(sql)
  // Tenant isolation: each operation's statements run with its workspace set; when off, nothing is added.
  const isolation = TenantIsolation.scoping(sql, (yield* TenantIsolation.TenantIsolation).enabled)
  // After each commit, a hint for change-feed tails in this and other processes.
  const wakeup = yield* Wakeup.makeNotifier
  // Writes fail with FeedDiverged on a database copied into another cluster (src/FeedGuard.ts); cached.
  const guard = FeedGuard.of(sql)

  /**
   * The lock `put` and `delete` take on a document's key before they write. A transaction gets the id
   * that orders its changes in the feed at its first write, and an INSERT racing to create a key, or a
   * DELETE, gets it before waiting for the row: without this lock, the feed could deliver a new
   * document's version 3 before its version 2, or a deletion before a version committed ahead of it.
   * Queued here instead, each writer gets its id after the previous one committed.
   */
  const keyLock = (workspaceId: Statement.Fragment, kind: Statement.Fragment, nameKey: Statement.Fragment) =>
    sql`pg_advisory_xact_lock(${keyLockClass}, hashtext(${workspaceId}::text || '/' || ${kind} || '/' || ${nameKey}))`

  const documentRow = (workspaceId: string, documentId: string) =>
    sql`SELECT * FROM files WHERE id = ${documentId} AND workspace_id = ${workspaceId}`.pipe(
      Effect.flatMap((rows) => rows.length === 0 ? Effect.fail(notFound(documentId)) : decodeDocument(rows[0]))
    )

  const replay = (request: Put, versionId: string, contentType: string | null) =>
    Effect.gen(function*() {
      const rows = yield* sql<StoredTarget>`
        SELECT v.*, f.workspace_id, f.kind, f.name_key
        FROM file_versions v JOIN files f ON f.id = v.file_id
        WHERE v.id = ${versionId}`
      if (rows.length === 0) return Option.none()
      const stored = yield* decodeVersion(rows[0])
      yield* replayConflict(request, contentType, stored, rows[0]!)
      const document = yield* documentRow(request.workspaceId, stored.documentId)
      return Option.some<Written>({ document, version: stored, replayed: true })
    })

  const write = (request: Put) =>
    Effect.gen(function*() {
      const contentType = contentTypeOf(request)
      const versionId = request.version.id ?? randomUUID()
      if (request.version.id !== undefined) {
        const replayed = yield* replay(request, versionId, contentType)
        if (Option.isSome(replayed)) return replayed.value
      }
      const source = sourceOf(request)
      if (source !== null) yield* documentRow(request.workspaceId, source)
      const newId = randomUUID()
      const nameKey = NameKey.nameKey(keySource(request, newId))
      // One statement, so one round trip and atomic without a transaction. Concurrent writers to one key
      // queue on its lock, then on the row the upsert creates or locks: version numbers have no gaps.
      // next_version_no() runs after the lock is held and reads with a snapshot of its own (0007), so it
      // sees the previous holder's version.
      const [row] = yield* direct<WrittenRow.Row>`
        WITH key_lock AS (
          SELECT ${keyLock(sql`${request.workspaceId}::uuid`, sql`${request.kind}::text`, sql`${nameKey}::text`)}
        ), document AS (
          INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
          SELECT ${newId}::uuid, ${request.workspaceId}::uuid, ${request.kind}, ${request.name}, ${nameKey},
                 ${source}::uuid, ${runOf(request)}::uuid
          FROM key_lock
          ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()
          RETURNING *
        ), version AS (
          INSERT INTO file_versions
            (id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256)
          SELECT ${versionId}, document.id, next_version_no(document.id), ${request.version.storageKey},
                 ${request.version.storageVersionId ?? null}, ${contentType}, ${BigInt(request.version.byteSize)},
                 ${request.version.sha256 ?? null}
          FROM document
          RETURNING *
        )
        SELECT document.*, version.id AS version_id, version.version_no, version.storage_key,
               version.storage_version_id, version.content_type, version.byte_size, version.sha256,
               version.created_at AS version_created_at
        FROM document, version`
      return { document: WrittenRow.document(row!), version: WrittenRow.version(row!), replayed: false } satisfies Written
    }).pipe(
      isolation.scoped(request.workspaceId),
      Effect.tap((written) => written.replayed ? Effect.void : wakeup.notify)
    )

  const put = (input: PutRequest) =>
    decodeInput(PutRequest)(input).pipe(
      Effect.flatMap((request) => raceOnVersionId(write(request), request.version.id ?? null))
    )

  // ---- bulk writes: a fixed number of set-based statements, whatever the size ----
  const writeMany = (requests: ReadonlyArray<Put>, lookForReplays: boolean) =>
    Effect.gen(function*() {
      const planned = requests.map((request) => ({
        request,
        contentType: contentTypeOf(request),
        versionId: request.version.id ?? randomUUID()
      }))
      const given = planned.filter((p) => p.request.version.id !== undefined)
      const seen = new Set<string>()
      for (const [i, p] of planned.entries()) {
        if (p.request.version.id === undefined) continue
        if (seen.has(p.versionId)) {
          return yield* new InvalidInput({ field: `${i}.version.id`, message: "is repeated within the request" })
        }
        seen.add(p.versionId)
      }
      // Retries: a version written before is replayed (after checking it is the same write), not written again.
      const replayed = new Map<string, Version>()
      if (lookForReplays && given.length > 0) {
        const rows = yield* sql<StoredTarget & { readonly id: string }>`
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
      }
      const fresh = planned.filter((p) => !replayed.has(p.versionId))
      // Each output's source must be a document of its workspace.
      const sources = new Map<string, { readonly workspaceId: string; readonly documentId: string }>()
      for (const { request } of fresh) {
        const documentId = sourceOf(request)
        if (documentId !== null) sources.set(`${request.workspaceId}/${documentId}`, { workspaceId: request.workspaceId, documentId })
      }
      if (sources.size > 0) {
        const wanted = [...sources.values()]
        const found = yield* sql<{ workspaceId: string; id: string }>`
          SELECT workspace_id, id FROM files
          WHERE (workspace_id, id) IN (
            SELECT * FROM unnest(${wanted.map((s) => s.workspaceId)}::uuid[], ${wanted.map((s) => s.documentId)}::uuid[]))`
        const present = new Set(found.map((row) => `${row.workspaceId}/${row.id}`))
        const missing = [...sources].find(([key]) => !present.has(key))
        if (missing !== undefined) return yield* Effect.fail(notFound(missing[1].documentId))
      }
      // One files row per key; the writes to it become its next versions, in request order.
      const documents = new Map<string, { readonly row: Put; id: string; readonly nameKey: string; next: number }>()
      const keyOf = fresh.map((p) => {
        const id = randomUUID()
        const nameKey = NameKey.nameKey(keySource(p.request, id))
        const key = `${p.request.workspaceId}/${p.request.kind}/${nameKey}`
        if (!documents.has(key)) documents.set(key, { row: p.request, id, nameKey, next: 0 })
        return key
      })
      // Locking keys in one order: two imports that share keys queue instead of deadlocking.
      // Only the documents that existed come back: a new one has the id given here.
      const keys = [...documents.keys()].sort()
      const existing = documents.size === 0 ? [] : yield* sql<
        { id: string; workspaceId: string; kind: string; nameKey: string }
      >`
        WITH upserted AS (
          INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
          SELECT * FROM unnest(
            ${keys.map((k) => documents.get(k)!.id)}::uuid[],
            ${keys.map((k) => documents.get(k)!.row.workspaceId)}::uuid[],
            ${keys.map((k) => documents.get(k)!.row.kind)}::text[],
            ${keys.map((k) => documents.get(k)!.row.name)}::text[],
            ${keys.map((k) => documents.get(k)!.nameKey)}::text[],
            ${keys.map((k) => sourceOf(documents.get(k)!.row))}::uuid[],
            ${keys.map((k) => runOf(documents.get(k)!.row))}::uuid[])
          ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()
          RETURNING id, workspace_id, kind, name_key, xmax <> 0 AS existed
        )
        SELECT id, workspace_id, kind, name_key FROM upserted WHERE existed`
      for (const row of existing) documents.get(`${row.workspaceId}/${row.kind}/${row.nameKey}`)!.id = row.id
      // Their latest versions, read by a statement of its own: its snapshot is taken after the upsert
      // locked them, so it sees the version a previous lock holder committed.
      if (existing.length > 0) {
        const latest = yield* sql<{ fileId: string; latest: number }>`
          SELECT file_id, max(version_no) AS latest FROM file_versions
          WHERE file_id = ANY(${existing.map((row) => row.id)}::uuid[]) GROUP BY file_id`
        const byId = new Map(latest.map((row) => [row.fileId, row.latest]))
        for (const document of documents.values()) document.next = byId.get(document.id) ?? 0
      }
      // Numbered here, so nothing needs to come back.
      const numbered = keyOf.map((key) => {
        const document = documents.get(key)!
        return { documentId: document.id, versionNo: ++document.next }
      })
      if (fresh.length > 0) {
        yield* sql`
          INSERT INTO file_versions
            (id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256)
          SELECT * FROM unnest(
            ${fresh.map((p) => p.versionId)}::uuid[],
            ${numbered.map((n) => n.documentId)}::uuid[],
            ${numbered.map((n) => n.versionNo)}::int[],
            ${fresh.map((p) => p.request.version.storageKey)}::text[],
            ${fresh.map((p) => p.request.version.storageVersionId ?? null)}::text[],
            ${fresh.map((p) => p.contentType)}::text[],
            ${fresh.map((p) => String(p.request.version.byteSize))}::bigint[],
            ${fresh.map((p) => p.request.version.sha256 ?? null)}::text[])`
      }
      const written = new Map(fresh.map((p, i) => [p.versionId, numbered[i]!]))
      return planned.map((p): Imported => {
        const old = replayed.get(p.versionId)
        if (old !== undefined) {
          return { documentId: old.documentId, versionId: old.id, versionNo: old.versionNo, replayed: true }
        }
        const row = written.get(p.versionId)!
        return {
          documentId: row.documentId as DocumentId,
          versionId: p.versionId as VersionId,
          versionNo: row.versionNo,
          replayed: false
        }
      })
    }).pipe(
      // Under isolation a call holds one workspace's writes (putMany checks it).
      isolation.transaction(requests[0]!.workspaceId),
      Effect.tap((imported) => imported.some((i) => !i.replayed) ? wakeup.notify : Effect.void)
    )

  const putMany = (input: ReadonlyArray<PutRequest>) =>
    decodeInput(PutManyRequest)(input).pipe(
      Effect.tap((requests) => isolation.enabled ? oneWorkspace(requests) : Effect.void),
      // Imports write new versions far more often than they repeat one: the first try does not look
      // for earlier writes of the ids (a query over every id given), and a taken id rolls it back
      // whole. The second looks for them, and replays or conflicts.
      Effect.flatMap((requests) =>
        writeMany(requests, false).pipe(
          Effect.catchIf(versionIdTaken, () => raceOnVersionId(writeMany(requests, true), null))
        )
      )
    )

  const get = (ref: DocumentRef) =>
    decodeInput(DocumentRef)(ref).pipe(
      Effect.flatMap(({ documentId, workspaceId }) => isolation.scoped(workspaceId)(documentRow(workspaceId, documentId)))
    )

  const find = (input: FindRequest) =>
    decodeInput(FindRequest)(input).pipe(
      Effect.flatMap((request) =>
        isolation.scoped(request.workspaceId)(sql`
          SELECT * FROM files
          WHERE workspace_id = ${request.workspaceId} AND kind = ${request.kind} AND name_key = ${findKey(request)}`)
      ),
      Effect.flatMap((rows) =>
        rows.length === 0
          ? Effect.fail(new DocumentNotFound({ documentId: "", message: "no document with this key in this workspace" }))
          : decodeDocument(rows[0])
      )
    )

  const list = (input: ListRequest) =>
    Effect.gen(function*() {
      const request = yield* decodeInput(ListRequest)(input)
      const listing = { order: request.order, kind: request.kind ?? null }
      const after = request.pageToken === undefined ? undefined : yield* PageToken.decode(request.pageToken, listing).pipe(
        Either.mapLeft((message) => new InvalidInput({ field: "pageToken", message }))
      )
      const newest = request.order === "newest"
      const direction = sql.literal(newest ? "DESC" : "ASC")
      // The page and the feed position come from one snapshot: streaming from `cursor`
      // misses nothing that happened after this page was read.
      const rows = yield* isolation.scoped(request.workspaceId)(sql<
        { feedEpoch: string; feedXmin: string; position: string; id: string | null }
      >`
        WITH feed AS (SELECT epoch, pg_snapshot_xmin(pg_current_snapshot())::text AS xmin FROM document_feed)
        SELECT feed.epoch AS feed_epoch, feed.xmin AS feed_xmin, page.*
        FROM feed LEFT JOIN LATERAL (
          SELECT *, created_at::text AS position FROM files
          WHERE workspace_id = ${request.workspaceId}
            ${request.kind ? sql`AND kind = ${request.kind}` : sql``}
            ${
        after === undefined
          ? sql``
          : newest
          ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`
          : sql`AND (created_at, id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)`
      }
          ORDER BY created_at ${direction}, id ${direction}
          LIMIT ${request.limit + 1}
        ) page ON true
        ORDER BY page.created_at ${direction}, page.id ${direction}`)
      const [feed] = rows
      const found = rows.filter((row) => row.id !== null)
      const page = found.slice(0, request.limit)
      const last = page.at(-1)
      return {
        documents: yield* Effect.forEach(page, decodeDocument),
        nextPageToken: found.length > request.limit && last
          ? PageToken.encode(listing, { createdAt: last.position, id: last.id! })
          : null,
        cursor: Cursor.encode({ epoch: feed!.feedEpoch, txId: BigInt(feed!.feedXmin), id: 0n })
      } satisfies Page
    })

  const delete_ = (ref: DocumentRef) =>
    decodeInput(DocumentRef)(ref).pipe(
      Effect.flatMap(({ documentId, workspaceId }) =>
        isolation.scoped(workspaceId)(
          sql`
            WITH target AS (
              SELECT id, ${keyLock(sql`workspace_id`, sql`kind`, sql`name_key`)}
              FROM files WHERE id = ${documentId} AND workspace_id = ${workspaceId}
            )
            DELETE FROM files USING target WHERE files.id = target.id RETURNING files.id`
        ).pipe(
          Effect.flatMap((rows) => rows.length === 0 ? Effect.fail(notFound(documentId)) : wakeup.notify)
        )
      )
    )

  const versionsOf = (workspaceId: string, documentId: string, only?: { readonly versionNo?: number; readonly latest?: boolean }) =>
    sql`
      SELECT v.* FROM file_versions v JOIN files f ON f.id = v.file_id
      WHERE f.id = ${documentId} AND f.workspace_id = ${workspaceId}
        ${only?.versionNo === undefined ? sql`` : sql`AND v.version_no = ${only.versionNo}`}
      ORDER BY v.version_no ${sql.literal(only?.latest ? "DESC LIMIT 1" : "ASC")}`.pipe(
      Effect.flatMap((rows) => Effect.forEach(rows, (row) => decodeVersion(row))),
      // No rows: either no such document here, or no such version of it.
      Effect.tap((versions) => versions.length === 0 ? documentRow(workspaceId, documentId) : Effect.void),
      isolation.scoped(workspaceId)
    )

  const versions = (ref: DocumentRef) =>
    decodeInput(DocumentRef)(ref).pipe(
      Effect.flatMap(({ documentId, workspaceId }) => versionsOf(workspaceId, documentId))
    )

  const oneVersion = (workspaceId: string, documentId: string, versionNo: number | undefined) =>
    versionsOf(workspaceId, documentId, versionNo === undefined ? { latest: true } : { versionNo }).pipe(
      Effect.flatMap(([version]) =>
        version
          ? Effect.succeed(version)
          : Effect.fail(
            new VersionNotFound({
              documentId,
              versionNo: versionNo ?? 0,
              message: versionNo === undefined
                ? `document ${documentId} has no versions`
                : `document ${documentId} has no version ${versionNo}`
            })
          )
      )
    )

  const version = (ref: VersionRef) =>
    decodeInput(VersionRef)(ref).pipe(
      Effect.flatMap(({ documentId, versionNo, workspaceId }) => oneVersion(workspaceId, documentId, versionNo))
    )

  const latestVersion = (ref: DocumentRef) =>
    decodeInput(DocumentRef)(ref).pipe(
      Effect.flatMap(({ documentId, workspaceId }) => oneVersion(workspaceId, documentId, undefined))
    )

  // Database failures reach callers as typed errors, never as defects.
  const boundary = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, Exclude<E, SqlError> | DatabaseError> =>
    Effect.mapError(effect, (error) => error instanceof SqlError ? databaseError(error) : error as Exclude<E, SqlError>).pipe(
      // @effect/sql's withTransaction turns a failed COMMIT or ROLLBACK (the connection died) into a defect.
      Effect.catchSomeDefect((defect) =>
        defect instanceof SqlError
          ? Option.some(Effect.fail(
            new DatabaseError({
              message: `${databaseError(defect).message} (while ending the transaction: the write may or may not ` +
                `have been applied; retrying it with the same version id is safe)`
            })
          ))
          : Option.none()
      )
    )

  return Documents.of({
    put: (request) => boundary(Effect.zipRight(guard, put(request))),
    putMany: (requests) => boundary(Effect.zipRight(guard, putMany(requests))),
    get: (ref) => boundary(get(ref)),
    find: (request) => boundary(find(request)),
    list: (request) => boundary(list(request)),
    delete: (ref) => boundary(Effect.zipRight(guard, delete_(ref))),
    versions: (ref) => boundary(versions(ref)),
    version: (ref) => boundary(version(ref)),
    latestVersion: (ref) => boundary(latestVersion(ref))
  })
})

/**
 * Needs a `SqlClient` (see `Database.layer` / `Database.layerConfig`).
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Documents, never, SqlClient.SqlClient> = Layer.scoped(Documents, make)
