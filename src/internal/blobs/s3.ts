/**
 * The S3 store, on the AWS SDK v3. Uploads go through `@aws-sdk/lib-storage`'s
 * `Upload`: one PutObject below the part size, a multipart upload above it,
 * with at most `queueSize` parts in memory. On a versioned bucket each put's
 * `VersionId` is returned, so a recorded version reads back its own bytes even
 * after its key was overwritten.
 */
import { randomUUID } from "node:crypto"
import type { Readable } from "node:stream"
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client
} from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { NodeStream } from "@effect/platform-node"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { BlobInfo, BlobStore, GetOptions, PutOptions } from "../../BlobStore.js"
import * as Checksum from "./checksum.js"
import { BlobNotFound, BlobStoreUnavailable } from "./errors.js"
import { minPartSize, type S3Options } from "./s3Options.js"
import { type BlobSource, bytesOf, checkKey } from "./source.js"

interface SdkError {
  readonly name?: string
  readonly message?: string
  readonly code?: string
  readonly $metadata?: { readonly httpStatusCode?: number }
}

const notFoundNames = new Set(["NoSuchKey", "NotFound", "NoSuchVersion"])

/** The network's failures and S3's refusals as the store's typed error. */
const unavailable = (action: string) => (error: unknown) => {
  const sdk = (error ?? {}) as SdkError
  const detail = sdk.code ?? sdk.name ?? "Error"
  return new BlobStoreUnavailable({ message: `S3 ${action}: ${detail}: ${sdk.message ?? String(error)}` })
}

/** As `unavailable`, except that S3's "no such key (or version)" is `BlobNotFound`. */
const lookupFailure = (action: string, key: string, versionId: string | null) => (error: unknown) => {
  const sdk = (error ?? {}) as SdkError
  return notFoundNames.has(sdk.name ?? "") || sdk.$metadata?.httpStatusCode === 404
    ? new BlobNotFound({ key, versionId, message: `no blob ${key}${versionId ? ` version ${versionId}` : ""}` })
    : unavailable(action)(error)
}

export const make = (config: S3Options) =>
  Effect.gen(function*() {
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new S3Client({
          region: config.region ?? "us-east-1",
          ...(config.endpoint ? { endpoint: config.endpoint } : {}),
          ...(config.credentials
            ? {
              credentials: {
                accessKeyId: config.credentials.accessKeyId,
                secretAccessKey: Redacted.value(config.credentials.secretAccessKey)
              }
            }
            : {}),
          forcePathStyle: config.forcePathStyle ?? false,
          maxAttempts: config.maxAttempts ?? 3,
          // The store hashes every byte itself (sha256, checked on read); the SDK's
          // optional CRC trailers would only add aws-chunked framing that many
          // S3-compatible servers do not understand.
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED"
        })
      ),
      (client) => Effect.sync(() => client.destroy())
    )
    const bucket = config.bucket
    const prefix = config.prefix ?? ""
    const partSize = Math.max(config.partSize ?? 8 * 1024 * 1024, minPartSize)
    const queueSize = config.queueSize ?? 4
    const send = <A>(action: string, run: (signal: AbortSignal) => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: unavailable(action) })
    const lookup = <A>(action: string, key: string, versionId: string | null, run: (signal: AbortSignal) => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: lookupFailure(action, key, versionId) })

    const put = <E>(source: BlobSource<E>, options: PutOptions = {}) =>
      Effect.gen(function*() {
        const key = options.key === undefined ? `blobs/${randomUUID()}` : yield* checkKey(options.key)
        const running = Checksum.digest()
        // The SDK reads a node stream; the source's own typed failure is kept aside.
        let sourceFailed: Option.Option<unknown> = Option.none()
        const body = yield* NodeStream.toReadable(
          bytesOf(source).pipe(
            Stream.tap((chunk) => Effect.sync(() => running.update(chunk))),
            Stream.tapError((error) => Effect.sync(() => (sourceFailed = Option.some(error))))
          )
        )
        const done = yield* send("upload", (signal) => {
          const upload = new Upload({
            client,
            params: {
              Bucket: bucket,
              Key: prefix + key,
              Body: body,
              ...(options.contentType ? { ContentType: options.contentType } : {})
            },
            partSize,
            queueSize,
            leavePartsOnError: false
          })
          signal.addEventListener("abort", () => void upload.abort())
          return upload.done()
        }).pipe(
          Effect.catchAll((error) =>
            Option.match(sourceFailed, {
              onNone: () => Effect.fail(error),
              onSome: (cause) => Effect.fail(cause as E | typeof error)
            })
          )
        )
        return { key, versionId: done.VersionId ?? null, size: running.size(), sha256: running.hex() }
      })

    const head = (key: string, versionId?: string | null) =>
      Effect.gen(function*() {
        yield* checkKey(key)
        const out = yield* lookup("head", key, versionId ?? null, (abortSignal) =>
          client.send(
            new HeadObjectCommand({ Bucket: bucket, Key: prefix + key, ...(versionId ? { VersionId: versionId } : {}) }),
            { abortSignal }
          ))
        const info: BlobInfo = {
          key,
          versionId: out.VersionId ?? null,
          size: out.ContentLength ?? 0,
          lastModified: out.LastModified ?? new Date(0)
        }
        return info
      })

    const get = (key: string, options: GetOptions = {}) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        yield* checkKey(key)
        const versionId = options.versionId ?? null
        const out = yield* lookup("get", key, versionId, (abortSignal) =>
          client.send(
            new GetObjectCommand({
              Bucket: bucket,
              Key: prefix + key,
              ...(versionId ? { VersionId: versionId } : {}),
              ...(options.range ? { Range: `bytes=${options.range.start}-${options.range.end}` } : {})
            }),
            { abortSignal }
          ))
        const body = out.Body as Readable | undefined
        const bytes = body === undefined
          ? Stream.empty
          : Stream.fromAsyncIterable(body as AsyncIterable<Uint8Array>, lookupFailure("get", key, versionId))
        return options.sha256 && !options.range ? Checksum.verified(bytes, key, options.sha256, options.size) : bytes
      }))

    const remove = (key: string, versionId?: string | null) =>
      Effect.gen(function*() {
        yield* checkKey(key)
        yield* send("delete", (abortSignal) =>
          client.send(
            new DeleteObjectCommand({ Bucket: bucket, Key: prefix + key, ...(versionId ? { VersionId: versionId } : {}) }),
            { abortSignal }
          ))
      })

    const list = (options: { readonly prefix?: string } = {}) =>
      Stream.paginateChunkEffect(undefined as string | undefined, (token) =>
        send("list", (abortSignal) =>
          client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: prefix + (options.prefix ?? ""),
              ...(token ? { ContinuationToken: token } : {})
            }),
            { abortSignal }
          )).pipe(
            Effect.map((page: ListObjectsV2CommandOutput) =>
              [
                Chunk.fromIterable((page.Contents ?? []).map((object): BlobInfo => ({
                  key: (object.Key ?? "").slice(prefix.length),
                  versionId: null,
                  size: object.Size ?? 0,
                  lastModified: object.LastModified ?? new Date(0)
                }))),
                page.IsTruncated && page.NextContinuationToken
                  ? Option.some(page.NextContinuationToken)
                  : Option.none<string | undefined>()
              ] as const
            )
          )
      )

    const store: BlobStore["Type"] = { backend: "s3", put, get, head, delete: remove, list }
    return store
  })
