/**
 * The documents service: documents and their versions, every operation
 * scoped by workspace. It owns the tables `files` and `file_versions`.
 *
 * Every input is validated with `Schema` before anything touches the
 * database; a failure is an `InvalidInput` naming the field. Another
 * workspace's document fails exactly as a missing one. The operations live in
 * `internal/documents/` (put, putMany, reads, delete); this module is their
 * face: the requests, the results, the service and its layer.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import type { Document } from "./Document.js"
import type { Conflict, DatabaseError, DocumentNotFound, FeedDiverged, InvalidInput, VersionNotFound } from "./Errors.js"
import type { DocumentId, VersionId } from "./Ids.js"
import { delete_ } from "./internal/documents/delete.js"
import { put } from "./internal/documents/put.js"
import { putMany } from "./internal/documents/putMany.js"
import { putStream } from "./internal/documents/putStream.js"
import * as Reads from "./internal/documents/reads.js"
import {
  decodePut,
  decodePutMany,
  DocumentRef,
  FindRequest,
  ListRequest,
  PutRequest,
  VersionRef
} from "./internal/documents/requests.js"
import * as Store from "./internal/documents/store.js"
import { decodeInput } from "./internal/validation.js"
import type { Version } from "./Version.js"

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

export {
  /**
   * @since 0.1.0
   */
  FindRequest,
  /**
   * The most writes one `putMany` takes; split larger imports into several calls.
   *
   * @since 0.1.0
   */
  maxBulkWrites,
  /**
   * @since 0.1.0
   */
  Name,
  /**
   * @since 0.1.0
   */
  PutManyRequest,
  /**
   * @since 0.1.0
   */
  PutRequest,
  /**
   * @since 0.1.0
   */
  ListRequest,
  /**
   * @since 0.1.0
   */
  VersionInput
} from "./internal/documents/requests.js"

export type {
  /**
   * @since 0.1.0
   */
  DocumentRef,
  /**
   * @since 0.1.0
   */
  VersionRef
} from "./internal/documents/requests.js"

export {
  /**
   * The class (first key) of the advisory locks `put` and `delete` take on document keys.
   *
   * @since 0.1.0
   */
  keyLockClass
} from "./internal/documents/keys.js"

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
 * What a `putStream` wrote: versions written, and versions that had been written before (replayed).
 *
 * @since 0.2.0
 */
export interface Streamed {
  readonly written: number
  readonly replayed: number
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
  /**
   * Writes a stream of versions of any length in one transaction: all of them or none, as one
   * `putMany` would. The stream is read in chunks of 10,000 writes (the next decoded while the database
   * writes one), so memory does not grow with its length. Errors name the write by its index in the
   * stream. The transaction holds the documents it wrote until it commits: two streams (or a stream and
   * a `putMany`) writing to the same documents in different orders may deadlock, and PostgreSQL then
   * fails one of them (`DatabaseError`, nothing of it written).
   */
  readonly putStream: <E, R>(requests: Stream.Stream<PutRequest, E, R>) => Effect.Effect<
    Streamed,
    E | InvalidInput | DocumentNotFound | Conflict | DatabaseError | FeedDiverged,
    R
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

/**
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const store = yield* Store.make
  const boundary = Store.boundary
  const documentRef = decodeInput(DocumentRef)
  const versionRef = decodeInput(VersionRef)
  // Writes first ask the feed guard (a clock read while its verdict is cached).
  const guarded = <A, B, E>(write: (a: A) => Effect.Effect<B, E>) => (a: A) => Effect.zipRight(store.guard, write(a))
  const reads = {
    get: Reads.get(store),
    find: Reads.find(store),
    list: Reads.list(store),
    versions: Reads.versions(store),
    version: Reads.version(store)
  }
  return Documents.of({
    put: (request) => boundary(Effect.flatMap(decodePut(request), guarded(put(store)))),
    putMany: (requests) => boundary(Effect.flatMap(decodePutMany(requests), guarded(putMany(store)))),
    putStream: (requests) => boundary(Effect.zipRight(store.guard, putStream(store)(requests))),
    get: (ref) => boundary(Effect.flatMap(documentRef(ref), (r) => reads.get(r.workspaceId, r.documentId))),
    find: (request) => boundary(Effect.flatMap(decodeInput(FindRequest)(request), reads.find)),
    list: (request) => boundary(Effect.flatMap(decodeInput(ListRequest)(request), reads.list)),
    delete: (ref) =>
      boundary(Effect.flatMap(documentRef(ref), guarded((r) => delete_(store)(r.workspaceId, r.documentId)))),
    versions: (ref) => boundary(Effect.flatMap(documentRef(ref), (r) => reads.versions(r.workspaceId, r.documentId))),
    version: (ref) =>
      boundary(Effect.flatMap(versionRef(ref), (r) => reads.version(r.workspaceId, r.documentId, r.versionNo))),
    latestVersion: (ref) =>
      boundary(Effect.flatMap(documentRef(ref), (r) => reads.version(r.workspaceId, r.documentId, undefined)))
  })
})

/**
 * Needs a `SqlClient` (see `Database.layer` / `Database.layerConfig`).
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Documents, never, SqlClient.SqlClient> = Layer.scoped(Documents, make)
