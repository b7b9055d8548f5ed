/**
 * The bytes of documents' versions: uploads that store the bytes in the
 * `BlobStore` and then record the version with exactly what the store
 * reported, downloads that stream a version's bytes and check them against its
 * recorded sha256, and gc of blobs no version references.
 *
 * A service of its own beside `Documents` (which keeps recording metadata
 * only, and needs no store): build it with `layer` on top of `Documents.layer`
 * and a `BlobStore` layer.
 *
 * Between the upload and the record there is no transaction spanning both: if
 * the record fails (the database is down, the connection drops), the blob
 * stays unreferenced and `gc` deletes it once its grace period is over. A
 * version is never recorded for bytes that were not stored.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as BlobStore from "./BlobStore.js"
import * as Documents from "./Documents.js"
import type { Conflict, DatabaseError, DocumentNotFound, FeedDiverged, InvalidInput, VersionNotFound } from "./Errors.js"
import * as BlobGc from "./internal/documents/blobGc.js"
import { decodeInput } from "./internal/validation.js"
import * as TenantIsolation from "./TenantIsolation.js"
import type { Version } from "./Version.js"

export type {
  /** @since 0.1.0 */
  GcOptions,
  /** @since 0.1.0 */
  GcReport
} from "./internal/documents/blobGc.js"

/**
 * What an upload knows of its version before the bytes are stored: an optional
 * client-chosen id and content type. The store supplies the rest.
 *
 * @since 0.1.0
 */
export interface UploadVersion {
  readonly id?: string | undefined
  readonly contentType?: string | null | undefined
}

type WithoutStorage<Request> = Request extends { readonly version: unknown }
  ? Omit<Request, "version"> & { readonly version?: UploadVersion | undefined }
  : never

/**
 * A `Documents.PutRequest` without the storage fields.
 *
 * @since 0.1.0
 */
export type UploadRequest = WithoutStorage<Documents.PutRequest>

/**
 * @since 0.1.0
 */
export interface Uploaded extends Documents.Written {
  /** What the store reported, as recorded in `version`. */
  readonly blob: BlobStore.StoredBlob
}

/**
 * A version to download: the given `versionNo`, else the latest.
 *
 * @since 0.1.0
 */
export interface DownloadRef {
  readonly workspaceId: string
  readonly documentId: string
  readonly versionNo?: number | undefined
  /** Only these bytes (`end` inclusive), unchecked: a part cannot be checked against the whole's sha256. */
  readonly range?: BlobStore.ByteRange | undefined
}

/**
 * @since 0.1.0
 */
export interface Download {
  readonly version: Version
  /**
   * The bytes; after the last one the stream fails with `ChecksumMismatch`
   * unless they hash to the version's sha256 and add up to its size (a legacy
   * version without a sha256 is not checked).
   */
  readonly bytes: Stream.Stream<
    Uint8Array,
    InvalidInput | BlobStore.BlobNotFound | BlobStore.ChecksumMismatch | BlobStore.BlobStoreUnavailable
  >
}

/**
 * Gc was asked to run under tenant isolation, where row-level security hides
 * other workspaces' versions: every blob would look unreferenced. Run it with
 * the owner's connection (as migrations are).
 *
 * @since 0.1.0
 */
export class GcRefused extends Schema.TaggedError<GcRefused>()("GcRefused", { message: Schema.String }) {}

/**
 * @since 0.1.0
 */
export class DocumentBlobs extends Context.Tag("effect-docstore/DocumentBlobs")<DocumentBlobs, {
  /**
   * Validates the request, stores the bytes, then records the version with the
   * key, version id, size and sha256 the store reported. Bad input fails
   * before any byte is stored.
   */
  readonly upload: <E = never>(
    request: UploadRequest,
    content: BlobStore.BlobSource<E>
  ) => Effect.Effect<
    Uploaded,
    E | InvalidInput | DocumentNotFound | Conflict | DatabaseError | FeedDiverged | BlobStore.BlobStoreUnavailable
  >
  readonly download: (
    ref: DownloadRef
  ) => Effect.Effect<Download, InvalidInput | DocumentNotFound | VersionNotFound | DatabaseError>
  /** The bytes of a version already read (as `download` streams them). */
  readonly bytesOf: (version: Version, range?: BlobStore.ByteRange) => Download["bytes"]
  /** Deletes blobs no version references that are older than the grace period; reports them. */
  readonly gc: (
    options: BlobGc.GcOptions
  ) => Effect.Effect<BlobGc.GcReport, GcRefused | DatabaseError | BlobStore.BlobStoreUnavailable>
}>() {}

// Storage fields that pass validation, so that checking a request before the
// upload reports the request's own fields only.
const pendingStorage = { storageKey: "pending", byteSize: 0 }
const checkRequest = decodeInput(Documents.PutRequest)

/**
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const documents = yield* Documents.Documents
  const store = yield* BlobStore.BlobStore
  const sql = yield* SqlClient.SqlClient
  const isolated = (yield* TenantIsolation.TenantIsolation).enabled

  const upload = <E>(request: UploadRequest, content: BlobStore.BlobSource<E>) =>
    Effect.gen(function*() {
      const version = request.version ?? {}
      yield* checkRequest({ ...request, version: { ...version, ...pendingStorage } })
      const blob = yield* store.put(content, { contentType: version.contentType })
      const written = yield* documents.put({
        ...request,
        version: {
          ...version,
          storageKey: blob.key,
          storageVersionId: blob.versionId,
          byteSize: blob.size,
          sha256: blob.sha256
        }
      } as Documents.PutRequest)
      return { ...written, blob }
    })

  const download = (ref: DownloadRef) =>
    Effect.gen(function*() {
      const document = { workspaceId: ref.workspaceId, documentId: ref.documentId }
      const version = ref.versionNo === undefined
        ? yield* documents.latestVersion(document)
        : yield* documents.version({ ...document, versionNo: ref.versionNo })
      return { version, bytes: bytesOf(version, ref.range) }
    })

  const bytesOf = (version: Version, range?: BlobStore.ByteRange) =>
    store.get(version.storageKey, {
      versionId: version.storageVersionId,
      sha256: version.sha256,
      size: Number(version.byteSize),
      range
    })

  const gc = (options: BlobGc.GcOptions) =>
    isolated
      ? Effect.fail<GcRefused | DatabaseError | BlobStore.BlobStoreUnavailable>(
        new GcRefused({
          message: "blob gc cannot run under tenant isolation: row-level security would hide the versions " +
            "that reference blobs; run it with the owner's connection"
        })
      )
      : BlobGc.collect(sql, store, options)

  return DocumentBlobs.of({ upload, download, bytesOf, gc })
})

/**
 * Needs `Documents`, a `BlobStore` and the `SqlClient` they share.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<DocumentBlobs, never, Documents.Documents | BlobStore.BlobStore | SqlClient.SqlClient> =
  Layer.effect(DocumentBlobs, make)
