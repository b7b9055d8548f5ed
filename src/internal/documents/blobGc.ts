/**
 * Blob garbage collection: deletes blobs that no version references and that
 * are older than a grace period.
 *
 * The grace period covers writes in flight: an upload stores its blob first
 * and records the version after, so a fresh blob nobody references yet may be
 * about to be. A blob is deleted only when, in this order, it is older than
 * the grace period, no version references its key, and a fresh look at it
 * (just before the delete) still finds it that old: the filesystem store
 * refreshes a content-addressed blob's time when a new upload stores the same
 * bytes again.
 */
import type { SqlClient } from "@effect/sql"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as BlobStore from "../../BlobStore.js"
import type { DatabaseError } from "../../Errors.js"
import { databaseError } from "../sqlError.js"

/**
 * @since 0.1.0
 */
export interface GcOptions {
  /** Blobs younger than this are kept even when unreferenced. */
  readonly grace: Duration.DurationInput
  /** Report what would be removed; remove nothing. */
  readonly dryRun?: boolean | undefined
}

/**
 * @since 0.1.0
 */
export interface GcReport {
  readonly dryRun: boolean
  /** Blobs the store listed. */
  readonly scanned: number
  /** Kept: a version references them. */
  readonly referenced: number
  /** Kept: unreferenced, but within the grace period. */
  readonly recent: number
  /** Removed (or, in a dry run, to be removed). */
  readonly removed: ReadonlyArray<BlobStore.BlobInfo>
  readonly removedBytes: number
}

const batchSize = 500

export const collect = (
  sql: SqlClient.SqlClient,
  store: BlobStore.BlobStore["Type"],
  options: GcOptions
): Effect.Effect<GcReport, DatabaseError | BlobStore.BlobStoreUnavailable> =>
  Effect.gen(function*() {
    const dryRun = options.dryRun ?? false
    const graceMillis = Duration.toMillis(Duration.decode(options.grace))
    const startedAt = yield* Clock.currentTimeMillis
    const old = (info: BlobStore.BlobInfo) => info.lastModified.getTime() < startedAt - graceMillis
    let scanned = 0
    let referenced = 0
    let recent = 0
    const removed: Array<BlobStore.BlobInfo> = []

    // Which of these keys does any version reference? (Index 0013.)
    const referencedKeys = (keys: ReadonlyArray<string>) =>
      sql<{ storageKey: string }>`SELECT DISTINCT storage_key FROM file_versions WHERE storage_key IN ${sql.in(keys)}`.pipe(
        Effect.map((rows) => new Set(rows.map((row) => row.storageKey))),
        Effect.mapError(databaseError)
      )

    // Still old when looked at again: delete. (A file whose name is no key the
    // store accepts was not put there by the store: leave it.)
    const removeIfStillOld = (info: BlobStore.BlobInfo) =>
      store.head(info.key).pipe(
        Effect.map(Option.some),
        Effect.catchTags({
          BlobNotFound: () => Effect.succeed(Option.none<BlobStore.BlobInfo>()),
          InvalidInput: () => Effect.succeed(Option.none<BlobStore.BlobInfo>())
        }),
        Effect.flatMap((current) => {
          if (Option.isNone(current)) return Effect.void
          if (!old(current.value)) return Effect.sync(() => void recent++)
          return Effect.zipRight(
            dryRun ? Effect.void : Effect.catchTag(store.delete(info.key), "InvalidInput", () => Effect.void),
            Effect.sync(() => void removed.push(current.value))
          )
        })
      )

    yield* store.list().pipe(
      Stream.grouped(batchSize),
      Stream.runForEach((batch) =>
        Effect.gen(function*() {
          const blobs = Chunk.toReadonlyArray(batch)
          const candidates = blobs.filter(old)
          scanned += blobs.length
          recent += blobs.length - candidates.length
          if (candidates.length === 0) return
          const inUse = yield* referencedKeys(candidates.map((info) => info.key))
          const unreferenced = candidates.filter((info) => !inUse.has(info.key))
          referenced += candidates.length - unreferenced.length
          yield* Effect.forEach(unreferenced, removeIfStillOld, { discard: true })
        })
      )
    )
    return {
      dryRun,
      scanned,
      referenced,
      recent,
      removed,
      removedBytes: removed.reduce((total, info) => total + info.size, 0)
    }
  })
