/**
 * The filesystem store: one file per blob under a root directory.
 *
 * Layout: `<root>/sha256/<hash>` (or `<root>/<key>` for a key the caller
 * chose) and `<root>/tmp/` for writes in progress. A write goes to a fresh
 * temporary file, is fsynced, then renamed over its key: a reader sees the
 * whole blob or none, and a killed process leaves only a file in `tmp/`
 * (never a key), which the next store built on the directory sweeps.
 */
import { randomUUID } from "node:crypto"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type { PlatformError } from "@effect/platform/Error"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { BlobInfo, BlobStore, GetOptions, PutOptions } from "../../BlobStore.js"
import * as Checksum from "./checksum.js"
import { BlobNotFound, BlobStoreUnavailable } from "./errors.js"
import { type BlobSource, bytesOf, checkKey } from "./source.js"

const tmpDir = "tmp"

/** Temporary files older than this are leftovers of killed writes. */
const staleAfter = Duration.hours(1)

const unavailable = (action: string) => (error: PlatformError) =>
  new BlobStoreUnavailable({ message: `filesystem store: ${action}: ${error.message}` })

const isNotFound = (error: PlatformError) => error._tag === "SystemError" && error.reason === "NotFound"

const noVersions = (key: string, versionId: string) =>
  new BlobNotFound({
    key,
    versionId,
    message: `blob ${key} has no version ${versionId}: the filesystem store keeps no versions`
  })

export const make = (root: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const base = path.resolve(root)
    const tmp = path.join(base, tmpDir)
    const fileOf = (key: string) => path.join(base, ...key.split("/"))
    yield* fs.makeDirectory(tmp, { recursive: true }).pipe(Effect.mapError(unavailable(`creating ${tmp}`)))
    yield* sweep(fs, path, tmp)

    // A rename is durable once the directory holding it is synced.
    const syncDirectory = (directory: string) =>
      Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (handle) => handle.sync)).pipe(Effect.ignore)

    const put = <E>(source: BlobSource<E>, options: PutOptions = {}) =>
      Effect.gen(function*() {
        const chosen = options.key === undefined ? undefined : yield* checkKey(options.key)
        const temporary = path.join(tmp, `${randomUUID()}.part`)
        const running = Checksum.digest()
        yield* Effect.scoped(
          Effect.gen(function*() {
            const file = yield* fs.open(temporary, { flag: "wx" }).pipe(Effect.mapError(unavailable("creating a blob")))
            yield* Stream.runForEach(bytesOf(source), (chunk) => {
              running.update(chunk)
              return Effect.mapError(file.writeAll(chunk), unavailable("writing a blob"))
            })
            yield* Effect.mapError(file.sync, unavailable("syncing a blob"))
          })
        ).pipe(Effect.onError(() => fs.remove(temporary).pipe(Effect.ignore)))
        const sha256 = running.hex()
        const key = chosen ?? `sha256/${sha256}`
        const target = fileOf(key)
        // Renaming over an existing blob of the same content also refreshes its
        // modification time, which gc's grace period counts from.
        yield* fs.makeDirectory(path.dirname(target), { recursive: true }).pipe(
          Effect.zipRight(fs.rename(temporary, target)),
          Effect.mapError(unavailable(`storing ${key}`)),
          Effect.onError(() => fs.remove(temporary).pipe(Effect.ignore))
        )
        yield* syncDirectory(path.dirname(target))
        return { key, versionId: null, size: running.size(), sha256 }
      })

    const head = (key: string, versionId?: string | null) =>
      Effect.gen(function*() {
        yield* checkKey(key)
        if (versionId) return yield* noVersions(key, versionId)
        const info = yield* fs.stat(fileOf(key)).pipe(
          Effect.mapError((error) =>
            isNotFound(error) ? new BlobNotFound({ key, versionId: null, message: `no blob ${key}` }) : unavailable(`reading ${key}`)(error)
          )
        )
        if (info.type !== "File") return yield* new BlobNotFound({ key, versionId: null, message: `no blob ${key}` })
        return infoOf(key, info)
      })

    const get = (key: string, options: GetOptions = {}) =>
      Stream.unwrap(Effect.gen(function*() {
        yield* head(key, options.versionId)
        const range = options.range
        const window = range ? { offset: range.start, bytesToRead: range.end - range.start + 1 } : {}
        const bytes = fs.stream(fileOf(key), { chunkSize: 64 * 1024, ...window }).pipe(
          Stream.mapError((error) =>
            isNotFound(error) ? new BlobNotFound({ key, versionId: null, message: `no blob ${key}` }) : unavailable(`reading ${key}`)(error)
          )
        )
        const expected = range ? undefined : options.sha256 ?? contentAddress(key)
        return expected ? Checksum.verified(bytes, key, expected, options.size) : bytes
      }))

    const remove = (key: string, versionId?: string | null) =>
      Effect.gen(function*() {
        yield* checkKey(key)
        if (versionId) return
        yield* fs.remove(fileOf(key)).pipe(
          Effect.catchIf(isNotFound, () => Effect.void),
          Effect.mapError(unavailable(`deleting ${key}`))
        )
      })

    const list = (options: { readonly prefix?: string } = {}) =>
      Stream.fromIterableEffect(
        fs.readDirectory(base, { recursive: true }).pipe(Effect.mapError(unavailable(`listing ${base}`)))
      ).pipe(
        Stream.map((relative) => relative.split(path.sep).join("/")),
        Stream.filter((key) => !key.startsWith(`${tmpDir}/`) && key !== tmpDir && key.startsWith(options.prefix ?? "")),
        Stream.mapEffect((key) =>
          fs.stat(fileOf(key)).pipe(
            Effect.map((info) => info.type === "File" ? Option.some(infoOf(key, info)) : Option.none<BlobInfo>()),
            // Deleted since the directory was read: not there any more.
            Effect.catchIf(isNotFound, () => Effect.succeed(Option.none<BlobInfo>())),
            Effect.mapError(unavailable(`reading ${key}`))
          )
        ),
        Stream.filterMap((info) => info)
      )

    const store: BlobStore["Type"] = { backend: "filesystem", put, get, head, delete: remove, list }
    return store
  })

const contentAddress = (key: string) => {
  const [scheme, hash, ...rest] = key.split("/")
  return scheme === "sha256" && hash !== undefined && rest.length === 0 && Checksum.isSha256(hash) ? hash : undefined
}

const infoOf = (key: string, info: FileSystem.File.Info): BlobInfo => ({
  key,
  versionId: null,
  size: Number(info.size),
  lastModified: Option.getOrElse(info.mtime, () => new Date(0))
})

// Leftovers of killed writes: never keys, only space.
const sweep = (fs: FileSystem.FileSystem, path: Path.Path, tmp: string) =>
  fs.readDirectory(tmp).pipe(
    Effect.flatMap((names) =>
      Effect.forEach(names, (name) =>
        fs.stat(path.join(tmp, name)).pipe(
          Effect.flatMap((info) =>
            Option.exists(info.mtime, (mtime) => Date.now() - mtime.getTime() > Duration.toMillis(staleAfter))
              ? fs.remove(path.join(tmp, name))
              : Effect.void
          )
        ), { discard: true, concurrency: 4 })
    ),
    Effect.ignore
  )
