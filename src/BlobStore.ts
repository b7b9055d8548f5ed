/**
 * Where the bytes of versions live. `Documents` records where a version's
 * bytes are (key, version id, size, sha256); a `BlobStore` holds them.
 *
 * Two layers: `layerFileSystem`, the embedded default (a directory,
 * content-addressed, `.docstore/blobs/` unless told otherwise), and `layerS3`
 * for production (any S3-protocol service). Both hash the bytes while they
 * stream through, so memory stays flat whatever the size.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { InvalidInput } from "./Errors.js"
import type { BlobNotFound, BlobStoreUnavailable, ChecksumMismatch } from "./internal/blobs/errors.js"
import * as FileSystemStore from "./internal/blobs/fileSystem.js"
import * as S3Options from "./internal/blobs/s3Options.js"
import type { BlobSource } from "./internal/blobs/source.js"

export {
  /** @since 0.1.0 */
  BlobNotFound,
  /** @since 0.1.0 */
  BlobStoreUnavailable,
  /** @since 0.1.0 */
  ChecksumMismatch
} from "./internal/blobs/errors.js"
export type {
  /** @since 0.1.0 */
  BlobFile,
  /** @since 0.1.0 */
  BlobSource
} from "./internal/blobs/source.js"
export type {
  /** @since 0.1.0 */
  S3Options
} from "./internal/blobs/s3Options.js"

/**
 * What the store reports for bytes it has stored: record exactly this.
 *
 * @since 0.1.0
 */
export interface StoredBlob {
  readonly key: string
  /** The store's own version id (S3 with versioning on), else `null`. */
  readonly versionId: string | null
  readonly size: number
  /** 64 lower-case hex characters. */
  readonly sha256: string
}

/**
 * @since 0.1.0
 */
export interface BlobInfo {
  readonly key: string
  readonly versionId: string | null
  readonly size: number
  readonly lastModified: Date
}

/**
 * @since 0.1.0
 */
export interface PutOptions {
  /**
   * Store under this key instead of the store's own choice (filesystem:
   * `sha256/<hash>`; S3: `blobs/<uuid>`). On a versioned S3 bucket, puts to one
   * key keep every version apart.
   */
  readonly key?: string | undefined
  readonly contentType?: string | null | undefined
}

/**
 * @since 0.1.0
 */
export interface GetOptions {
  /** The version to read; absent or `null` reads the current one. */
  readonly versionId?: string | null | undefined
  /**
   * Fail the stream with `ChecksumMismatch` after the last byte unless the
   * bytes hash to this. The filesystem store checks `sha256/<hash>` keys
   * against their name even without it.
   */
  readonly sha256?: string | null | undefined
  /** With `sha256`: also the number of bytes expected. */
  readonly size?: number | undefined
  /**
   * Only these bytes (`end` inclusive, as in HTTP ranges). A part of a blob
   * cannot be checked against the whole one's sha256: `sha256` is ignored.
   */
  readonly range?: ByteRange | undefined
}

/**
 * @since 0.1.0
 */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

/**
 * @since 0.1.0
 */
export class BlobStore extends Context.Tag("effect-docstore/BlobStore")<BlobStore, {
  readonly backend: "filesystem" | "s3"
  /**
   * Stores the bytes of a stream or a local file. Nothing is visible under the
   * key until every byte is stored: an interrupted or killed put leaves no blob.
   */
  readonly put: <E = never>(
    source: BlobSource<E>,
    options?: PutOptions
  ) => Effect.Effect<StoredBlob, E | InvalidInput | BlobStoreUnavailable>
  readonly get: (
    key: string,
    options?: GetOptions
  ) => Stream.Stream<Uint8Array, InvalidInput | BlobNotFound | ChecksumMismatch | BlobStoreUnavailable>
  readonly head: (
    key: string,
    versionId?: string | null
  ) => Effect.Effect<BlobInfo, InvalidInput | BlobNotFound | BlobStoreUnavailable>
  /** Deletes a blob (one version of it, given a version id); a missing blob is no error. */
  readonly delete: (key: string, versionId?: string | null) => Effect.Effect<void, InvalidInput | BlobStoreUnavailable>
  /** Every blob (the current version of each), in no particular order: what gc walks. */
  readonly list: (options?: { readonly prefix?: string }) => Stream.Stream<BlobInfo, BlobStoreUnavailable>
}>() {}

/**
 * The filesystem store's default directory, relative to the working directory
 * (beside the embedded database's data under `.docstore/`).
 *
 * @since 0.1.0
 */
export const defaultRoot = ".docstore/blobs"

/**
 * Blobs as files under `root`: `sha256/<hash>` keys, written to `tmp/` and
 * renamed into place after an fsync. Version ids are always `null`.
 *
 * @since 0.1.0
 */
export const layerFileSystem = (
  options: { readonly root?: string } = {}
): Layer.Layer<BlobStore, BlobStoreUnavailable, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(BlobStore, FileSystemStore.make(options.root ?? defaultRoot))

/**
 * Blobs in an S3 bucket (or any S3-protocol server).
 *
 * @since 0.1.0
 */
export const layerS3 = (options: S3Options.S3Options): Layer.Layer<BlobStore> =>
  Layer.scoped(
    BlobStore,
    // Loaded here, not at import: the SDK takes a while to load, and filesystem users need none of it.
    Effect.flatMap(Effect.promise(() => import("./internal/blobs/s3.js")), (S3Store) => S3Store.make(options))
  )

/**
 * `layerS3` from configuration: `DOCSTORE_S3_BUCKET` (required),
 * `DOCSTORE_S3_PREFIX`, `DOCSTORE_S3_ENDPOINT`, `DOCSTORE_S3_REGION` (default
 * `us-east-1`), `DOCSTORE_S3_ACCESS_KEY_ID` + `DOCSTORE_S3_SECRET_ACCESS_KEY`
 * (else the AWS SDK's default credential chain), `DOCSTORE_S3_FORCE_PATH_STYLE`,
 * `DOCSTORE_S3_PART_SIZE` (bytes, default 8 MiB, at least 5 MiB) and
 * `DOCSTORE_S3_QUEUE_SIZE` (parts in flight, default 4).
 *
 * @since 0.1.0
 */
export const layerS3Config: Layer.Layer<BlobStore, ConfigError> = Layer.unwrapEffect(
  S3Options.options.pipe(Config.map(layerS3))
)



/**
 * The store the configuration names: S3 when `DOCSTORE_S3_BUCKET` is set,
 * else the filesystem under `DOCSTORE_BLOBS_DIR` (default `.docstore/blobs`).
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<
  BlobStore,
  ConfigError | BlobStoreUnavailable,
  FileSystem.FileSystem | Path.Path
> = Layer.unwrapEffect(
  Config.all({
    bucket: Config.option(Config.string("DOCSTORE_S3_BUCKET")),
    root: Config.string("DOCSTORE_BLOBS_DIR").pipe(Config.withDefault(defaultRoot))
  }).pipe(
    Config.map(({ bucket, root }): Layer.Layer<BlobStore, ConfigError | BlobStoreUnavailable, FileSystem.FileSystem | Path.Path> =>
      Option.isSome(bucket) ? layerS3Config : layerFileSystem({ root })
    )
  )
)
