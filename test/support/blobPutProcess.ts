/**
 * A process that writes a 4 GiB blob into the filesystem store under the
 * directory given as the first argument, meant to be killed long before it
 * ends (the cap only bounds what a stray writer can leave on the disk).
 */
import { NodeContext } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as BlobStore from "../../src/BlobStore.js"

const root = process.argv[2]!
const chunk = new Uint8Array(64 * 1024).fill(7)

await Effect.runPromise(
  Effect.flatMap(BlobStore.BlobStore, (store) => store.put(Stream.repeatValue(chunk).pipe(Stream.take(65_536)))).pipe(
    Effect.provide(BlobStore.layerFileSystem({ root })),
    Effect.provide(NodeContext.layer)
  )
)
