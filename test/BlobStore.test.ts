import { spawn } from "node:child_process"
import * as nodeFs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3"
import * as FileSystem from "@effect/platform/FileSystem"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as BlobStore from "../src/BlobStore.js"
import { peakMemoryDuring, sha256OfFile, writeRandomFile } from "./support/blobFiles.js"
import * as S3Server from "./support/s3Server.js"

const MiB = 1024 * 1024
const text = (value: string) => Stream.make(new TextEncoder().encode(value))
const emptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

const tempDirectory = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => nodeFs.mkdtemp(path.join(os.tmpdir(), prefix))),
    (directory) => Effect.promise(() => nodeFs.rm(directory, { recursive: true, force: true }))
  )

const readAll = <E>(bytes: Stream.Stream<Uint8Array, E>) =>
  Stream.runCollect(bytes).pipe(
    Effect.map((chunks) => Buffer.concat(Chunk.toReadonlyArray(chunks)).toString())
  )

/** The store a layer builds, for the rest of the test's scope. */
const storeOn = <E, R>(layer: Layer.Layer<BlobStore.BlobStore, E, R>) =>
  Effect.map(Layer.build(layer), Context.get(BlobStore.BlobStore))

const fileSystemStore = (root: string) => storeOn(BlobStore.layerFileSystem({ root }))

/** Blob files and leftovers under a filesystem store's root, as relative paths. */
const filesUnder = (root: string) =>
  Effect.promise(async () =>
    (await nodeFs.readdir(root, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
  )

/** Polls `condition` every 20 ms until it holds, failing after `timeoutMs`. */
const eventually = async (condition: () => Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe("BlobStore.layerFileSystem", () => {
  it.scoped("stores bytes under sha256/<hash>, returns size and sha256, and reads them back", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("docstore-blobs-")
      const store = yield* fileSystemStore(root)
      const empty = yield* store.put(Stream.empty)
      expect(empty).toEqual({ key: `sha256/${emptySha256}`, versionId: null, size: 0, sha256: emptySha256 })
      expect(yield* readAll(store.get(empty.key))).toBe("")
      const small = yield* store.put(text("hello, blobs"))
      expect(small).toMatchObject({ key: `sha256/${small.sha256}`, versionId: null, size: 12 })
      expect(yield* readAll(store.get(small.key, { sha256: small.sha256, size: 12 }))).toBe("hello, blobs")
      // A range (end inclusive) reads only its bytes; a part is not checked against the whole's sha256.
      expect(yield* readAll(store.get(small.key, { sha256: small.sha256, range: { start: 7, end: 10 } }))).toBe("blob")
      expect(yield* store.head(small.key)).toMatchObject({ key: small.key, size: 12, versionId: null })
      const listed = yield* Stream.runCollect(store.list())
      expect(Chunk.toReadonlyArray(listed).map((info) => info.key).sort()).toEqual([empty.key, small.key].sort())
      yield* store.delete(small.key)
      yield* store.delete(small.key) // a second delete is no error
      expect((yield* Effect.flip(store.head(small.key)))._tag).toBe("BlobNotFound")
      expect(yield* Effect.flip(readAll(store.get(small.key)))).toMatchObject({ _tag: "BlobNotFound", key: small.key })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("round-trips a 50 MB file with memory well below its size", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("docstore-blobs-")
      const store = yield* fileSystemStore(root)
      const fs = yield* FileSystem.FileSystem
      const original = path.join(root, "..", `${path.basename(root)}-original.bin`)
      const copy = `${original}.copy`
      yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all([nodeFs.rm(original, { force: true }), nodeFs.rm(copy, { force: true })])))
      yield* Effect.promise(() => writeRandomFile(original, 50 * MiB))
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.promise(() => peakMemoryDuring(() => Effect.runPromise(effect)))
      const up = yield* run(store.put({ path: original }))
      const down = yield* run(Stream.run(store.get(up.result.key), fs.sink(copy)))
      expect(up.result).toMatchObject({ size: 50 * MiB, sha256: yield* Effect.promise(() => sha256OfFile(original)) })
      expect(yield* Effect.promise(() => sha256OfFile(copy))).toBe(up.result.sha256)
      // Streaming holds a few 64 KiB chunks at once, plus garbage V8 has not collected yet
      // (resident memory grew by 15-17 MiB here); a buffered copy would hold 50 MB more.
      expect(up.peak.rss).toBeLessThan(30 * MiB)
      expect(down.peak.rss).toBeLessThan(30 * MiB)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("fails a tampered blob's read with ChecksumMismatch after its last byte", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("docstore-blobs-")
      const store = yield* fileSystemStore(root)
      const stored = yield* store.put(text("the original bytes"))
      yield* Effect.promise(() => nodeFs.writeFile(path.join(root, stored.key), "the tampered bytes"))
      const error = yield* Effect.flip(readAll(store.get(stored.key)))
      expect(error).toMatchObject({ _tag: "ChecksumMismatch", key: stored.key, expected: stored.sha256 })
      // The expected digest may also come from the caller (a key that is not content-addressed).
      const named = yield* store.put(text("named"), { key: "custom/one" })
      yield* Effect.promise(() => nodeFs.appendFile(path.join(root, "custom", "one"), "!"))
      expect((yield* Effect.flip(readAll(store.get(named.key, { sha256: named.sha256 }))))._tag).toBe("ChecksumMismatch")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("leaves no blob and no temporary file when a put is interrupted mid-write", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("docstore-blobs-")
      const store = yield* fileSystemStore(root)
      const chunk = new Uint8Array(64 * 1024)
      const fiber = yield* Effect.fork(store.put(Stream.repeatValue(chunk)))
      yield* Effect.promise(() =>
        eventually(async () => (await nodeFs.readdir(path.join(root, "tmp"))).length > 0)
      )
      yield* Fiber.interrupt(fiber)
      expect(yield* filesUnder(root)).toEqual([])
      expect(Chunk.size(yield* Stream.runCollect(store.list()))).toBe(0)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("leaves no blob when the writing process is killed mid-write (SIGKILL)", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("docstore-blobs-")
      // Node itself, not the tsx wrapper: SIGKILL cannot be relayed, and would leave the writer running.
      const child = spawn(process.execPath, ["--import", "tsx", "test/support/blobPutProcess.ts", root], { stdio: "ignore" })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      const partial = async () => {
        const names = await nodeFs.readdir(path.join(root, "tmp")).catch(() => [])
        const sizes = await Promise.all(names.map((name) => nodeFs.stat(path.join(root, "tmp", name)).then((s) => s.size)))
        return sizes.some((size) => size > MiB)
      }
      yield* Effect.promise(() => eventually(partial, 60_000))
      child.kill("SIGKILL")
      yield* Effect.promise(() => new Promise((resolve) => child.once("exit", resolve)))
      const store = yield* fileSystemStore(root)
      expect(Chunk.size(yield* Stream.runCollect(store.list()))).toBe(0)
      // What is left is a temporary file (swept once stale), never a key.
      expect((yield* filesUnder(root)).every((file) => file.startsWith(`tmp${path.sep}`))).toBe(true)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("stores concurrent puts of the same bytes as one whole blob", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("docstore-blobs-")
      const store = yield* fileSystemStore(root)
      const content = "same bytes ".repeat(50_000)
      const results = yield* Effect.all(Array.from({ length: 8 }, () => store.put(text(content))), { concurrency: 8 })
      expect(new Set(results.map((result) => result.key)).size).toBe(1)
      expect(yield* readAll(store.get(results[0]!.key))).toBe(content)
      expect(yield* filesUnder(root)).toEqual([results[0]!.key.split("/").join(path.sep)])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("refuses keys that would leave the root, naming the field", () =>
    Effect.gen(function*() {
      const root = yield* tempDirectory("docstore-blobs-")
      const store = yield* fileSystemStore(root)
      for (const key of ["../escape", "/etc/passwd", "a//b", ""]) {
        expect(yield* Effect.flip(store.head(key))).toMatchObject({ _tag: "InvalidInput", field: "key" })
      }
      expect(yield* Effect.flip(store.put(text("x"), { key: "a/../../b" }))).toMatchObject({ _tag: "InvalidInput", field: "key" })
      expect(yield* Effect.flip(store.put({ path: path.join(root, "missing") }))).toMatchObject({ _tag: "InvalidInput", field: "path" })
      expect(yield* filesUnder(root)).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("BlobStore.layerS3 (against s3rver)", () => {
  it.scoped("reads its configuration from DOCSTORE_S3_* and refuses a part size below 5 MiB, naming it", () =>
    Effect.gen(function*() {
      const server = yield* S3Server.scoped()
      const config = (extra: Record<string, string>) =>
        ConfigProvider.fromMap(new Map(Object.entries({
          DOCSTORE_S3_BUCKET: server.bucket,
          DOCSTORE_S3_ENDPOINT: server.endpoint,
          DOCSTORE_S3_FORCE_PATH_STYLE: "true",
          DOCSTORE_S3_ACCESS_KEY_ID: "S3RVER",
          DOCSTORE_S3_SECRET_ACCESS_KEY: "S3RVER",
          ...extra
        })))
      const store = yield* storeOn(BlobStore.layerConfig.pipe(Layer.provide(NodeContext.layer))).pipe(
        Effect.withConfigProvider(config({ DOCSTORE_S3_PREFIX: "configured/" }))
      )
      expect(store.backend).toBe("s3")
      const stored = yield* store.put(text("configured"))
      expect(server.requests().some((line) => line.startsWith(`PUT /${server.bucket}/configured/${stored.key}`))).toBe(true)
      const refused = yield* Effect.flip(
        storeOn(BlobStore.layerS3Config).pipe(Effect.withConfigProvider(config({ DOCSTORE_S3_PART_SIZE: "1024" })))
      )
      expect(String(refused)).toMatch(/DOCSTORE_S3_PART_SIZE.*at least 5 MiB/)
    }))

  it.scoped("round-trips empty and small blobs; head, list and delete; a missing key is BlobNotFound", () =>
    Effect.gen(function*() {
      const server = yield* S3Server.scoped()
      const store = yield* storeOn(BlobStore.layerS3(server.options({ prefix: "tenant-a/" })))
      const empty = yield* store.put(Stream.empty)
      expect(empty).toMatchObject({ key: expect.stringMatching(/^blobs\/[0-9a-f-]{36}$/), size: 0, sha256: emptySha256 })
      const small = yield* store.put(text("hello, S3"), { contentType: "text/plain" })
      // s3rver does not implement bucket versioning, so S3 returns no VersionId.
      expect(small).toMatchObject({ versionId: null, size: 9 })
      expect(yield* readAll(store.get(small.key, { sha256: small.sha256, size: 9 }))).toBe("hello, S3")
      expect(yield* readAll(store.get(small.key, { sha256: small.sha256, range: { start: 7, end: 8 } }))).toBe("S3")
      expect(yield* readAll(store.get(empty.key))).toBe("")
      expect(yield* store.head(small.key)).toMatchObject({ key: small.key, size: 9 })
      const keys = Chunk.toReadonlyArray(yield* Stream.runCollect(store.list())).map((info) => info.key).sort()
      expect(keys).toEqual([empty.key, small.key].sort())
      expect(server.requests().some((line) => line.includes("/tenant-a/blobs/"))).toBe(true)
      yield* store.delete(small.key)
      expect(yield* Effect.flip(store.head(small.key))).toMatchObject({ _tag: "BlobNotFound", key: small.key })
      expect(yield* Effect.flip(readAll(store.get("blobs/missing")))).toMatchObject({ _tag: "BlobNotFound" })
      // Wrong bytes for a recorded sha256 fail the read.
      expect((yield* Effect.flip(readAll(store.get(empty.key, { sha256: small.sha256 }))))._tag).toBe("ChecksumMismatch")
    }))

  it.scoped("uploads a file above the part size as a multipart upload", () =>
    Effect.gen(function*() {
      const server = yield* S3Server.scoped()
      const store = yield* storeOn(BlobStore.layerS3(server.options({ partSize: 5 * MiB, queueSize: 2 })))
      const directory = yield* tempDirectory("docstore-s3-")
      const original = path.join(directory, "large.bin")
      yield* Effect.promise(() => writeRandomFile(original, 12 * MiB))
      const stored = yield* store.put({ path: original }, { key: "large/one" })
      expect(stored).toMatchObject({ key: "large/one", size: 12 * MiB, sha256: yield* Effect.promise(() => sha256OfFile(original)) })
      const parts = server.requests().filter((line) => /^PUT .*partNumber=/.test(line))
      expect(server.requests().some((line) => /^POST \/docstore-test\/large\/one\?uploads/.test(line))).toBe(true)
      expect(parts).toHaveLength(3)
      const copy = path.join(directory, "copy.bin")
      const fs = yield* FileSystem.FileSystem
      yield* Stream.run(store.get(stored.key, { sha256: stored.sha256 }), fs.sink(copy))
      expect(yield* Effect.promise(() => sha256OfFile(copy))).toBe(stored.sha256)
      // Checked with the bare SDK: the object is whole under its key.
      const bare = new S3Client({
        region: "us-east-1",
        endpoint: server.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: "S3RVER", secretAccessKey: Redacted.value(server.options().credentials!.secretAccessKey) }
      })
      const head = yield* Effect.promise(() => bare.send(new HeadObjectCommand({ Bucket: server.bucket, Key: "large/one" })))
      bare.destroy()
      expect(head.ContentLength).toBe(12 * MiB)
      expect(head.VersionId).toBeUndefined()
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("fails with BlobStoreUnavailable when the server is down", () =>
    Effect.gen(function*() {
      const server = yield* S3Server.scoped()
      const store = yield* storeOn(BlobStore.layerS3(server.options()))
      const stored = yield* store.put(text("before the outage"))
      yield* Effect.promise(server.stop)
      expect(yield* Effect.flip(store.put(text("during the outage")))).toMatchObject({ _tag: "BlobStoreUnavailable" })
      expect(yield* Effect.flip(readAll(store.get(stored.key)))).toMatchObject({ _tag: "BlobStoreUnavailable" })
      expect(yield* Effect.flip(store.head(stored.key))).toMatchObject({ _tag: "BlobStoreUnavailable" })
      expect(yield* Effect.flip(Stream.runDrain(store.list()))).toMatchObject({
        _tag: "BlobStoreUnavailable",
        message: expect.stringMatching(/ECONNREFUSED/)
      })
    }))
})
