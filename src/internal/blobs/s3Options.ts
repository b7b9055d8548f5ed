/**
 * The S3 store's options and where configuration finds them. Apart from the
 * store itself (s3.ts) so that reading them loads no AWS SDK: the SDK is loaded
 * only when an S3 store is built.
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"

/**
 * @since 0.1.0
 */
export interface S3Options {
  readonly bucket: string
  /** Prepended to every key (`tenant-a/`); keys the store reports do not include it. */
  readonly prefix?: string | undefined
  /** For S3-compatible servers (MinIO, Ceph, ...); absent means AWS. */
  readonly endpoint?: string | undefined
  readonly region?: string | undefined
  /** Absent: the AWS SDK's default chain (environment, profile, instance role). */
  readonly credentials?: {
    readonly accessKeyId: string
    readonly secretAccessKey: Redacted.Redacted<string>
  } | undefined
  /** Path-style URLs (`endpoint/bucket/key`), which most self-hosted servers need. */
  readonly forcePathStyle?: boolean | undefined
  /** Multipart part size in bytes; S3's minimum is 5 MiB. Default 8 MiB. */
  readonly partSize?: number | undefined
  /** Parts uploaded at once (memory: partSize x queueSize). Default 4. */
  readonly queueSize?: number | undefined
  /** Attempts per request, retries included. Default 3. */
  readonly maxAttempts?: number | undefined
}

export const minPartSize = 5 * 1024 * 1024

export const options: Config.Config<S3Options> = Config.all({
  bucket: Config.string("DOCSTORE_S3_BUCKET"),
  prefix: Config.string("DOCSTORE_S3_PREFIX").pipe(Config.withDefault("")),
  endpoint: Config.option(Config.string("DOCSTORE_S3_ENDPOINT")),
  region: Config.string("DOCSTORE_S3_REGION").pipe(Config.withDefault("us-east-1")),
  accessKeyId: Config.option(Config.string("DOCSTORE_S3_ACCESS_KEY_ID")),
  secretAccessKey: Config.option(Config.redacted("DOCSTORE_S3_SECRET_ACCESS_KEY")),
  forcePathStyle: Config.boolean("DOCSTORE_S3_FORCE_PATH_STYLE").pipe(Config.withDefault(false)),
  // Validated before the default applies, so that an error names the variable.
  partSize: Config.integer("DOCSTORE_S3_PART_SIZE").pipe(
    Config.validate({ message: "must be at least 5 MiB (5242880)", validation: (size) => size >= minPartSize }),
    Config.withDefault(8 * 1024 * 1024)
  ),
  queueSize: Config.integer("DOCSTORE_S3_QUEUE_SIZE").pipe(
    Config.validate({ message: "must be at least 1", validation: (size) => size >= 1 }),
    Config.withDefault(4)
  )
}).pipe(Config.map((config) => ({
  bucket: config.bucket,
  prefix: config.prefix,
  endpoint: Option.getOrUndefined(config.endpoint),
  region: config.region,
  credentials: Option.isSome(config.accessKeyId) && Option.isSome(config.secretAccessKey)
    ? { accessKeyId: config.accessKeyId.value, secretAccessKey: config.secretAccessKey.value }
    : undefined,
  forcePathStyle: config.forcePathStyle,
  partSize: config.partSize,
  queueSize: config.queueSize
})))

