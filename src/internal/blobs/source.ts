/** What `BlobStore.put` reads from, and which keys the stores accept. */
import { createReadStream } from "node:fs"
import { NodeStream } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { InvalidInput } from "../../Errors.js"
import { BlobStoreUnavailable } from "./errors.js"

/** A local file to read, instead of a stream. */
export interface BlobFile {
  readonly path: string
}

export type BlobSource<E> = Stream.Stream<Uint8Array, E> | BlobFile

const chunkSize = 64 * 1024

/** The source's bytes; a missing file is bad input naming `path`. */
export const bytesOf = <E>(source: BlobSource<E>): Stream.Stream<Uint8Array, E | InvalidInput | BlobStoreUnavailable> =>
  Stream.StreamTypeId in source
    ? source as Stream.Stream<Uint8Array, E>
    : NodeStream.fromReadable(
      () => createReadStream((source as BlobFile).path, { highWaterMark: chunkSize }),
      (error) =>
        (error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "EISDIR"
          ? new InvalidInput({ field: "path", message: `${(source as BlobFile).path}: no such file` })
          : new BlobStoreUnavailable({ message: `reading ${(source as BlobFile).path}: ${String(error)}` })
    )

const segment = /^[A-Za-z0-9._=+-]+$/

/**
 * Keys are relative, `/`-separated paths of plain segments: the filesystem
 * store maps them onto directories, so `..`, empty segments and absolute paths
 * are refused (a key from the database can never name a file outside the root).
 */
export const checkKey = (key: string, field = "key"): Effect.Effect<string, InvalidInput> => {
  const problem = key.length === 0
    ? "must not be empty"
    : key.length > 1024
    ? "must be at most 1024 characters"
    : key.split("/").some((part) => !segment.test(part) || part === "." || part === "..")
    ? "must be a relative path of segments made of letters, digits and . _ = + - (no '..', no empty segment)"
    : undefined
  return problem === undefined ? Effect.succeed(key) : Effect.fail(new InvalidInput({ field, message: problem }))
}
