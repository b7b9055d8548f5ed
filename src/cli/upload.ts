/** `docstore put` without `--no-upload`: the file's bytes go to the blob store, then the version is recorded. */
import { createReadStream, statSync } from "node:fs"
import * as path from "node:path"
import { NodeStream } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import { BlobStoreUnavailable } from "../BlobStore.js"
import * as DocumentBlobs from "../DocumentBlobs.js"
import type * as Documents from "../Documents.js"
import { withProgress } from "./progress.js"

/**
 * Uploads `file` for the request (its storage fields, computed from the file
 * for `--no-upload`, are replaced by what the store reports).
 */
export const uploadFile = (request: Documents.PutRequest, file: string) =>
  Effect.gen(function*() {
    const blobs = yield* DocumentBlobs.DocumentBlobs
    const { byteSize: _size, sha256: _sha256, storageKey: _key, storageVersionId: _id, ...version } = request.version
    const bytes = NodeStream.fromReadable(
      () => createReadStream(file, { highWaterMark: 64 * 1024 }),
      (error) => new BlobStoreUnavailable({ message: `reading ${file}: ${String(error)}` })
    )
    const total = yield* Effect.try({
      try: () => statSync(file).size,
      catch: (error) => new BlobStoreUnavailable({ message: `reading ${file}: ${String(error)}` })
    })
    return yield* blobs.upload(
      { ...request, version } as DocumentBlobs.UploadRequest,
      withProgress(`uploading ${path.basename(file)}`, total, bytes)
    )
  })
