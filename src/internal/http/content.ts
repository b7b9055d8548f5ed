/**
 * The bytes of versions over HTTP (`HttpApi.ContentGroup`), on `DocumentBlobs`:
 *
 * - upload: the request body streams into the blob store (hashed on the way,
 *   never buffered whole), then the version is recorded with what the store
 *   reported. The body may be larger than the JSON limit, up to `maxUploadBytes`.
 * - download: a version's bytes, streamed. Versions never change, so the
 *   answer carries a strong `ETag` (the sha256) and may be cached for good by
 *   the caller; `Range` (one range) answers 206, `If-None-Match` 304. A blob
 *   that no longer hashes to its sha256 is noticed after the last byte, when
 *   the headers are long gone: the response is cut short (its `Content-Length`
 *   tells the client it did not get everything).
 */
import { Readable } from "node:stream"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeStream from "@effect/platform-node/NodeStream"
import contentDisposition from "content-disposition"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import parseRange from "range-parser"
import type { ByteRange } from "../../BlobStore.js"
import * as DocumentBlobs from "../../DocumentBlobs.js"
import { Documents } from "../../Documents.js"
import { InvalidInput } from "../../Errors.js"
import { PayloadTooLarge, RangeNotSatisfiable, type UploadParams } from "../../HttpApi.js"
import type { DocumentId, WorkspaceId } from "../../Ids.js"
import type { Version } from "../../Version.js"

// Upload parameters are named as in the URL, not as in the request they become.
const paramOf: Record<string, string> = { "version.id": "versionId", "version.contentType": "content-type" }

const tooLarge = (maxBytes: number) =>
  new PayloadTooLarge({ maxBytes, message: `the upload exceeds ${maxBytes} bytes` })

const unreadable = () => new InvalidInput({ field: "body", message: "could not be read to its end" })

// On Node, the platform's `request.stream` destroys the request when it stops early, and with it the
// connection the 413 must go out on: read it without that.
const bytesOf = (request: HttpServerRequest.HttpServerRequest) =>
  request.source instanceof Readable
    ? NodeStream.fromReadable<InvalidInput, Uint8Array>(() => request.source as Readable, unreadable, { closeOnDone: false })
    : Stream.mapError(request.stream, unreadable)

/** The body, failing as soon as it passes `maxBytes` (a chunked body has no length to check up front). */
const body = (request: HttpServerRequest.HttpServerRequest, maxBytes: number) =>
  Stream.suspend(() => {
    let received = 0
    return bytesOf(request).pipe(
      Stream.mapEffect((chunk) => {
        received += chunk.length
        return received > maxBytes ? Effect.fail(tooLarge(maxBytes)) : Effect.succeed(chunk)
      })
    )
  })

// A browser labels bytes it knows nothing about as octet-stream: that says nothing about the document.
const contentTypeOf = (header: string | undefined) =>
  header === undefined || header === "" || header.startsWith("application/octet-stream") ? null : header

/**
 * @since 0.1.0
 */
export const upload = (maxUploadBytes: number) => (workspaceId: WorkspaceId, params: UploadParams) =>
  Effect.gen(function*() {
    const blobs = yield* DocumentBlobs.DocumentBlobs
    const request = yield* HttpServerRequest.HttpServerRequest
    const length = Number(request.headers["content-length"] ?? 0)
    if (length > maxUploadBytes) return yield* tooLarge(maxUploadBytes)
    const { versionId, ...document } = params
    const written = yield* blobs.upload(
      {
        ...document,
        workspaceId,
        version: { id: versionId, contentType: contentTypeOf(request.headers["content-type"]) }
      } as DocumentBlobs.UploadRequest,
      body(request, maxUploadBytes)
    ).pipe(
      Effect.mapError((error) =>
        error._tag === "InvalidInput" && error.field in paramOf
          ? new InvalidInput({ field: paramOf[error.field]!, message: error.message })
          : error
      )
    )
    return written.replayed ? { ...written, replayed: true as const } : { ...written, replayed: false as const }
  })

const etagOf = (version: Version) => `"${version.sha256 ?? version.id}"`

/** `If-None-Match`: one tag, a list, or `*`; weak tags match by their value (RFC 9110, 13.1.2). */
const matches = (header: string | undefined, etag: string) =>
  header !== undefined &&
  header.split(",").map((tag) => tag.trim().replace(/^W\//, "")).some((tag) => tag === etag || tag === "*")

type Wanted =
  | { readonly _tag: "Whole" }
  | { readonly _tag: "Part"; readonly range: ByteRange }
  | { readonly _tag: "Unsatisfiable" }

/**
 * The part a `Range` header asks for. A header that does not parse, asks for several ranges, or comes
 * with an `If-Range` that names another version gets the whole (RFC 9110 allows each).
 */
const wanted = (headers: DownloadHeaders, size: number, etag: string): Wanted => {
  if (headers.range === undefined) return { _tag: "Whole" }
  if (headers["if-range"] !== undefined && headers["if-range"] !== etag) return { _tag: "Whole" }
  const ranges = parseRange(size, headers.range, { combine: true })
  if (ranges === -1) return { _tag: "Unsatisfiable" }
  if (ranges === -2 || ranges.type !== "bytes" || ranges.length !== 1) return { _tag: "Whole" }
  return { _tag: "Part", range: { start: ranges[0]!.start, end: ranges[0]!.end } }
}

interface DownloadHeaders {
  readonly range?: string | undefined
  readonly "if-range"?: string | undefined
  readonly "if-none-match"?: string | undefined
}

/** 416 as `HttpApi.RangeNotSatisfiable` encodes it, with the size in `Content-Range` (RFC 9110, 15.5.17). */
const unsatisfiable = (size: number, range: string) =>
  HttpServerResponse.unsafeJson(
    { _tag: "RangeNotSatisfiable", size, message: `the version has ${size} bytes: ${range} starts past them` } satisfies
      typeof RangeNotSatisfiable.Encoded,
    { status: 416, headers: { "content-range": `bytes */${size}` } }
  )

/**
 * One chunk behind: the last goes out only once the stream ended without error (the sha256 checked), so
 * that a blob that fails the check answers fewer bytes than its `Content-Length` says, never all of them.
 */
const heldBack = <E>(bytes: Stream.Stream<Uint8Array, E>) =>
  bytes.pipe(Stream.zipWithNext, Stream.map(([chunk]) => chunk))

/** Closes the connection (on Node), so that the client learns at once that the body is short, not at its idle timeout. */
const cutShort = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.sync(() => (request.source as { readonly socket?: { readonly destroy?: () => void } }).socket?.destroy?.())

/**
 * @since 0.1.0
 */
export const download = (
  path: { readonly workspaceId: WorkspaceId; readonly documentId: DocumentId; readonly versionNo: number },
  headers: DownloadHeaders
) =>
  Effect.gen(function*() {
    const documents = yield* Documents
    const blobs = yield* DocumentBlobs.DocumentBlobs
    const document = yield* documents.get(path)
    const version = yield* documents.version(path)
    const size = Number(version.byteSize)
    const etag = etagOf(version)
    const common = {
      etag,
      "accept-ranges": "bytes",
      // Immutable, but behind a token: a shared cache must not keep it.
      "cache-control": "private, max-age=31536000, immutable"
    }
    if (matches(headers["if-none-match"], etag)) return HttpServerResponse.empty({ status: 304, headers: common })
    const part = wanted(headers, size, etag)
    if (part._tag === "Unsatisfiable") return unsatisfiable(size, headers.range!)
    const range = part._tag === "Part" ? part.range : undefined
    const request = yield* HttpServerRequest.HttpServerRequest
    const bytes = heldBack(blobs.bytesOf(version, range)).pipe(Stream.onError(() => cutShort(request)))
    return HttpServerResponse.stream(bytes, {
      status: range ? 206 : 200,
      contentType: version.contentType ?? "application/octet-stream",
      contentLength: range ? range.end - range.start + 1 : size,
      headers: {
        ...common,
        "content-disposition": contentDisposition(document.name),
        ...(range ? { "content-range": `bytes ${range.start}-${range.end}/${size}` } : {})
      }
    })
  })
