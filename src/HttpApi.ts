/**
 * The HTTP API of the store, as an `@effect/platform` `HttpApi`: endpoints
 * under `/v1/workspaces/:workspaceId/`, their schemas (derived from the
 * services' own: `Document`, `Version`, `Change`, `Documents.PutRequest`) and
 * the errors each one answers with. `HttpServer` implements it; the OpenAPI
 * document (`/openapi.json`) is generated from it. See docs/http.md.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import * as Struct from "effect/Struct"
import { BlobNotFound, BlobStoreUnavailable } from "./BlobStore.js"
import { Change } from "./Change.js"
import { Document, Kind } from "./Document.js"
import * as Documents from "./Documents.js"
import { Conflict, DatabaseError, DocumentNotFound, FeedDiverged, InvalidCursor, InvalidInput, VersionNotFound } from "./Errors.js"
import { DocumentId, WorkspaceId } from "./Ids.js"
import { Version } from "./Version.js"

// ---------------------------------------------------------------------------
// Bodies: the services' records as JSON (dates as ISO strings, bigints as numbers or strings)
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export const DocumentJson = Schema.Struct({
  ...Document.fields,
  sourceDocumentId: Schema.NullOr(DocumentId),
  createdAt: Schema.Date,
  updatedAt: Schema.Date
}).annotations({ identifier: "Document" })

/**
 * `byteSize` is a JSON number (sizes stay far below 2^53).
 *
 * @since 0.1.0
 */
export const VersionJson = Schema.Struct({
  ...Version.fields,
  documentId: DocumentId,
  byteSize: Schema.BigIntFromNumber,
  createdAt: Schema.Date
}).annotations({ identifier: "Version" })

/**
 * One line of the change feed. `id` and `txId` are decimal strings (int8 and
 * xid8); `cursor` resumes right after this change.
 *
 * @since 0.1.0
 */
export const ChangeJson = Schema.Struct({
  cursor: Schema.String,
  ...Change.fields,
  id: Schema.BigInt,
  txId: Schema.BigInt,
  changedAt: Schema.Date
}).annotations({ identifier: "Change" })

/**
 * @since 0.1.0
 */
export const DocumentPage = Schema.Struct({
  documents: Schema.Array(DocumentJson),
  nextPageToken: Schema.NullOr(Schema.String),
  /** List then watch: `GET .../changes?cursor=` from here misses nothing that changed after this page. */
  cursor: Schema.String
}).annotations({ identifier: "DocumentPage" })

/**
 * @since 0.1.0
 */
export const VersionList = Schema.Struct({ versions: Schema.Array(VersionJson) }).annotations({ identifier: "VersionList" })

const written = <const R extends boolean>(replayed: R) =>
  Schema.Struct({ document: DocumentJson, version: VersionJson, replayed: Schema.Literal(replayed) })

/**
 * A new version answers 201; a retried write (same version id) 200 with `replayed: true`.
 *
 * @since 0.1.0
 */
export const Written = written(false).annotations({ identifier: "Written", ...HttpApiSchema.annotations({ status: 201 }) })

/**
 * @since 0.1.0
 */
export const Replayed = written(true).annotations({ identifier: "Replayed" })

/**
 * Where a version's bytes live: `Documents.VersionInput`, with `byteSize` a JSON number.
 *
 * @since 0.1.0
 */
export const VersionBody = Schema.Struct({ ...Documents.VersionInput.fields, byteSize: Schema.NonNegativeInt })
  .annotations({ identifier: "VersionBody" })

const [input, output, log, export_] = Documents.PutRequest.members

/**
 * The body of a write: `Documents.PutRequest` without `workspaceId` (the path names it).
 *
 * @since 0.1.0
 */
export const PutVersion = Schema.Union(
  Schema.Struct({ ...Struct.omit(input.fields, "workspaceId", "version"), version: VersionBody }),
  Schema.Struct({ ...Struct.omit(output.fields, "workspaceId", "version"), version: VersionBody }),
  Schema.Struct({ ...Struct.omit(log.fields, "workspaceId", "version"), version: VersionBody }),
  Schema.Struct({ ...Struct.omit(export_.fields, "workspaceId", "version"), version: VersionBody })
).annotations({ identifier: "PutVersion" })

// ---------------------------------------------------------------------------
// Errors of the HTTP layer (the services' own errors are answered as they are)
// ---------------------------------------------------------------------------

/**
 * No bearer token, or one that is unknown or revoked.
 *
 * @since 0.1.0
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 401 })) {}

/**
 * The path names a workspace the token does not belong to (or no workspace
 * at all): answered as for a workspace that does not exist.
 *
 * @since 0.1.0
 */
export class WorkspaceNotFound extends Schema.TaggedError<WorkspaceNotFound>()("WorkspaceNotFound", {
  workspaceId: Schema.String,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 404 })) {}

/**
 * The feed cannot continue from this cursor (`reason`: another feed epoch, or
 * pruned by retention). Refetch: list `refetch`, take the listing's `cursor`,
 * follow the changes from there.
 *
 * @since 0.1.0
 */
export class CursorExpired extends Schema.TaggedError<CursorExpired>()("CursorExpired", {
  reason: Schema.Literal("epoch", "retention"),
  message: Schema.String,
  refetch: Schema.String
}, HttpApiSchema.annotations({ status: 409 })) {}

/**
 * @since 0.1.0
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  maxBytes: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 413 })) {}

/**
 * The request took longer than the server's request timeout; nothing is known to have been written.
 *
 * @since 0.1.0
 */
export class RequestTimeout extends Schema.TaggedError<RequestTimeout>()("RequestTimeout", {
  message: Schema.String
}, HttpApiSchema.annotations({ status: 503 })) {}

/**
 * A `Range` that starts past the last byte of the version (its size is in
 * `size` and the `Content-Range` header).
 *
 * @since 0.1.0
 */
export class RangeNotSatisfiable extends Schema.TaggedError<RangeNotSatisfiable>()("RangeNotSatisfiable", {
  size: Schema.Number,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 416 })) {}

// ---------------------------------------------------------------------------
// Security
// ---------------------------------------------------------------------------

/**
 * Who is calling: the workspace of the request's token.
 *
 * @since 0.1.0
 */
export class Caller extends Context.Tag("effect-docstore/HttpApi/Caller")<Caller, {
  readonly workspaceId: WorkspaceId
  readonly tokenId: string
}>() {}

/**
 * Every endpoint under `/v1` needs a token: `Authorization: Bearer <token>`,
 * or (for `EventSource`, which cannot send headers) `?access_token=<token>`.
 *
 * @since 0.1.0
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("effect-docstore/HttpApi/Authorization", {
  failure: Schema.Union(Unauthorized, DatabaseError.annotations(HttpApiSchema.annotations({ status: 503 }))),
  provides: Caller,
  security: {
    bearer: HttpApiSecurity.bearer.pipe(
      HttpApiSecurity.annotate(
        OpenApi.Description,
        "A token of the path's workspace (`docstore token create`); `?access_token=` is read when the header is absent."
      )
    )
  }
}) {}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

const WorkspacePath = Schema.Struct({ workspaceId: WorkspaceId })
const DocumentPath = Schema.Struct({ workspaceId: WorkspaceId, documentId: DocumentId })
const VersionPath = Schema.Struct({
  workspaceId: WorkspaceId,
  documentId: DocumentId,
  versionNo: Schema.NumberFromString.pipe(Schema.int(), Schema.positive())
})

const IntFromString = (min: number, max: number) => Schema.NumberFromString.pipe(Schema.int(), Schema.between(min, max))

const notFound404 = { status: 404 } as const

/**
 * Documents and their versions (metadata; the bytes: `ContentGroup`).
 *
 * @since 0.1.0
 */
export class DocumentsGroup extends HttpApiGroup.make("documents")
  .add(
    HttpApiEndpoint.get("list", "/workspaces/:workspaceId/documents")
      .setPath(WorkspacePath)
      .setUrlParams(Schema.Struct({
        kind: Schema.optional(Kind),
        order: Schema.optional(Schema.Literal("newest", "oldest")),
        limit: Schema.optional(IntFromString(1, 1000)),
        pageToken: Schema.optional(Schema.String)
      }))
      .addSuccess(DocumentPage)
      .addError(WorkspaceNotFound)
  )
  .add(
    HttpApiEndpoint.post("put", "/workspaces/:workspaceId/documents")
      .setPath(WorkspacePath)
      .setPayload(PutVersion)
      .addSuccess(Written)
      .addSuccess(Replayed)
      .addError(WorkspaceNotFound)
      .addError(DocumentNotFound, notFound404)
      .addError(Conflict, { status: 409 })
  )
  .add(
    HttpApiEndpoint.get("get", "/workspaces/:workspaceId/documents/:documentId")
      .setPath(DocumentPath)
      .addSuccess(DocumentJson)
      .addError(DocumentNotFound, notFound404)
  )
  .add(
    HttpApiEndpoint.del("delete", "/workspaces/:workspaceId/documents/:documentId")
      .setPath(DocumentPath)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(DocumentNotFound, notFound404)
  )
  .add(
    HttpApiEndpoint.get("versions", "/workspaces/:workspaceId/documents/:documentId/versions")
      .setPath(DocumentPath)
      .addSuccess(VersionList)
      .addError(DocumentNotFound, notFound404)
  )
  .add(
    HttpApiEndpoint.get("version", "/workspaces/:workspaceId/documents/:documentId/versions/:versionNo")
      .setPath(VersionPath)
      .addSuccess(VersionJson)
      .addError(DocumentNotFound, notFound404)
      .addError(VersionNotFound, notFound404)
  )
  .prefix("/v1")
  .middleware(Authorization)
  .annotate(OpenApi.Description, "Documents (rows of `files`) and their immutable versions (rows of `file_versions`).")
{}

/**
 * What an upload writes, as URL parameters (the body is the bytes, its
 * `Content-Type` the version's): `Documents.PutRequest` without the storage
 * fields, which the blob store supplies.
 *
 * @since 0.1.0
 */
export const UploadParams = Schema.Struct({
  kind: Kind,
  name: Schema.String,
  sourceDocumentId: Schema.optional(Schema.String),
  runId: Schema.optional(Schema.String),
  exportJobId: Schema.optional(Schema.String),
  /** Client-chosen, for a retry that must not write twice. */
  versionId: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 */
export type UploadParams = typeof UploadParams.Type

const bytes = (description: string) =>
  Schema.Uint8ArrayFromSelf.pipe(
    HttpApiSchema.withEncoding({ kind: "Uint8Array", contentType: "application/octet-stream" })
  ).annotations({ description })

/**
 * The bytes of versions, through `DocumentBlobs`: an upload streams the body
 * into the blob store and then records the version; a download streams a
 * version's bytes back, with its sha256 as `ETag`, `Range` requests and
 * `If-None-Match`. See docs/http.md, "Bytes".
 *
 * @since 0.1.0
 */
export class ContentGroup extends HttpApiGroup.make("content")
  .add(
    HttpApiEndpoint.post("upload", "/workspaces/:workspaceId/documents/upload")
      .setPath(WorkspacePath)
      .setUrlParams(UploadParams)
      .addSuccess(Written)
      .addSuccess(Replayed)
      .addError(WorkspaceNotFound)
      .addError(DocumentNotFound, notFound404)
      .addError(Conflict, { status: 409 })
      .addError(BlobStoreUnavailable, { status: 503 })
      .annotate(OpenApi.Description, "The request body (any size up to the server's upload limit) is the version's bytes.")
  )
  .add(
    HttpApiEndpoint.get("download", "/workspaces/:workspaceId/documents/:documentId/versions/:versionNo/content")
      .setPath(VersionPath)
      .setHeaders(Schema.Struct({
        range: Schema.optional(Schema.String),
        "if-range": Schema.optional(Schema.String),
        "if-none-match": Schema.optional(Schema.String)
      }))
      .addSuccess(bytes("The version's bytes; with `Range`, 206 and the part asked for."))
      .addError(DocumentNotFound, notFound404)
      .addError(VersionNotFound, notFound404)
      .addError(BlobNotFound, notFound404)
      .addError(RangeNotSatisfiable)
      .addError(BlobStoreUnavailable, { status: 503 })
  )
  .prefix("/v1")
  .middleware(Authorization)
  .annotate(OpenApi.Description, "The bytes of versions, kept in the blob store (docs/blobs.md).")
{}

/**
 * @since 0.1.0
 */
export const ChangesParams = Schema.Struct({
  /** `beginning` (the default), `now`, or a cursor to resume after. */
  cursor: Schema.optional(Schema.String),
  live: Schema.optional(Schema.Literal("longpoll", "sse")),
  kind: Schema.optional(Kind),
  /** Most changes in one catch-up or long-poll answer. */
  limit: Schema.optional(IntFromString(1, 10_000)),
  /** Long-poll: seconds to wait for a change. */
  timeout: Schema.optional(IntFromString(1, 60))
})

/**
 * @since 0.1.0
 */
export type ChangesParams = typeof ChangesParams.Type

/**
 * The change feed of a workspace: catch-up chunks of JSON lines, long-poll,
 * or server-sent events (docs/http.md, "Changes").
 *
 * @since 0.1.0
 */
export class ChangesGroup extends HttpApiGroup.make("changes")
  .add(
    HttpApiEndpoint.get("changes", "/workspaces/:workspaceId/changes")
      .setPath(WorkspacePath)
      .setUrlParams(ChangesParams)
      .setHeaders(Schema.Struct({
        "last-event-id": Schema.optional(Schema.String),
        "if-none-match": Schema.optional(Schema.String)
      }))
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "application/x-ndjson" })))
      .addError(WorkspaceNotFound)
      .addError(InvalidCursor, { status: 400 })
      .addError(CursorExpired)
  )
  .prefix("/v1")
  .middleware(Authorization)
  .annotate(OpenApi.Description, "The change feed (rows of `document_changes`), gap-free and resumable.")
{}

/**
 * @since 0.1.0
 */
export class Api extends HttpApi.make("docstore")
  .add(DocumentsGroup)
  .add(ContentGroup)
  .add(ChangesGroup)
  .addError(InvalidInput, { status: 400 })
  .addError(DatabaseError, { status: 503 })
  // Writes and streams are refused until `docstore repair-feed` ran (docs/change-feed.md).
  .addError(FeedDiverged, { status: 503 })
  .addError(PayloadTooLarge)
  .addError(RequestTimeout)
  .annotate(OpenApi.Title, "effect-docstore")
  .annotate(OpenApi.Version, "0.1.0")
{}
