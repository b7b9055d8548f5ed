/**
 * Blob throughput and memory: the filesystem store against the filesystem
 * itself, and the S3 store against the bare AWS SDK making the same calls, on
 * one file of `size` MiB (default 1,024), in one process.
 *
 * - filesystem upload: `BlobStore.put({ path })` (read, sha256, write, fsync,
 *   rename) against `fs.copyFile` (the kernel copies; no hash, no fsync);
 * - filesystem download: `BlobStore.get` drained (read and sha256 check)
 *   against reading the file raw (`createReadStream` drained, like `cat`, 64 KiB reads as the store);
 * - S3 upload: the S3 layer's `put` against a bare `@aws-sdk/lib-storage`
 *   `Upload` of the same file with the same part size and queue size;
 * - S3 download: the layer's `get` drained (with its sha256 check) against a
 *   bare `GetObject` whose body is drained;
 * - peak resident memory above the process's level before each operation.
 *
 * The S3 server is s3rver on 127.0.0.1 (test/support/s3Server.ts): it writes to
 * the local disk too, so S3 figures compare the client sides, not S3 itself.
 */
import { createReadStream } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import type { Readable } from "node:stream"
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { NodeContext } from "@effect/platform-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as BlobStore from "../src/BlobStore.js"
import { peakMemoryDuring, writeRandomFile } from "../test/support/blobFiles.js"
import * as S3Server from "../test/support/s3Server.js"
import { median } from "./stores.js"

export interface BlobsOptions {
  readonly mebibytes: number
  readonly runs: number
  readonly log: (line: string) => void
}

/** Seconds and peak resident memory growth (MiB) of one side of one run. */
export interface Sample {
  readonly seconds: number
  readonly peakRssMib: number
}

export type Side =
  | "fsPut"
  | "copyFile"
  | "fsGet"
  | "rawRead"
  | "s3Put"
  | "bareUpload"
  | "s3Get"
  | "bareGet"

export interface BlobsResult {
  readonly mebibytes: number
  readonly runs: ReadonlyArray<Readonly<Record<Side, Sample>>>
}

const MiB = 1024 * 1024
const partSize = 8 * MiB
const queueSize = 4

const timed = async (body: () => Promise<unknown>): Promise<Sample> => {
  const started = performance.now()
  const { peak } = await peakMemoryDuring(body)
  return { seconds: (performance.now() - started) / 1000, peakRssMib: peak.rss / MiB }
}

const drain = async (readable: Readable) => {
  for await (const _ of readable) { /* read and drop */ }
}

const storeOf = async (layer: Layer.Layer<BlobStore.BlobStore, unknown>, scope: Scope.CloseableScope) =>
  Context.get(await Effect.runPromise(Scope.extend(Layer.build(layer), scope)), BlobStore.BlobStore)

export const runBlobsBench = async (options: BlobsOptions): Promise<BlobsResult> => {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-bench-blobs-"))
  const server = await S3Server.start("docstore-bench")
  const scope = Effect.runSync(Scope.make())
  try {
    const source = path.join(directory, "source.bin")
    options.log(`writing a ${options.mebibytes} MiB file`)
    await writeRandomFile(source, options.mebibytes * MiB)
    const fsStore = await storeOf(
      BlobStore.layerFileSystem({ root: path.join(directory, "store") }).pipe(Layer.provide(NodeContext.layer)),
      scope
    )
    const s3Store = await storeOf(BlobStore.layerS3(server.options({ partSize, queueSize })), scope)
    const s3Options = server.options()
    const bare = new S3Client({
      region: "us-east-1",
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: s3Options.credentials!.accessKeyId, secretAccessKey: Redacted.value(s3Options.credentials!.secretAccessKey) },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED"
    })
    const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
    let fsKey = ""
    let s3Blob = { key: "", sha256: "" }
    const sides: Record<Side, () => Promise<unknown>> = {
      fsPut: async () => (fsKey = (await run(fsStore.put({ path: source }))).key),
      copyFile: () => fs.copyFile(source, path.join(directory, "copy.bin")),
      fsGet: () => run(Stream.runDrain(fsStore.get(fsKey))),
      rawRead: () => drain(createReadStream(source, { highWaterMark: 64 * 1024 })),
      s3Put: async () => (s3Blob = await run(s3Store.put({ path: source }, { key: "bench/layer" }))),
      bareUpload: () =>
        new Upload({
          client: bare,
          params: { Bucket: server.bucket, Key: "bench/bare", Body: createReadStream(source, { highWaterMark: 64 * 1024 }) },
          partSize,
          queueSize
        }).done(),
      s3Get: () => run(Stream.runDrain(s3Store.get(s3Blob.key, { sha256: s3Blob.sha256 }))),
      bareGet: async () => {
        const out = await bare.send(new GetObjectCommand({ Bucket: server.bucket, Key: "bench/bare" }))
        await drain(out.Body as Readable)
      }
    }
    // Uploads before the downloads that read what they stored; within each pair the order rotates per run.
    const pairs: ReadonlyArray<readonly [Side, Side]> = [
      ["fsPut", "copyFile"],
      ["fsGet", "rawRead"],
      ["s3Put", "bareUpload"],
      ["s3Get", "bareGet"]
    ]
    const runs: Array<Record<Side, Sample>> = []
    for (let i = 0; i < options.runs; i++) {
      const samples = {} as Record<Side, Sample>
      for (const pair of pairs) {
        for (const side of i % 2 === 0 ? pair : [pair[1], pair[0]]) samples[side] = await timed(sides[side])
      }
      options.log(
        `run ${i + 1}: ` + Object.entries(samples).map(([side, sample]) => `${side} ${sample.seconds.toFixed(2)} s`).join(", ")
      )
      runs.push(samples)
    }
    bare.destroy()
    return { mebibytes: options.mebibytes, runs }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.stop()
    await fs.rm(directory, { recursive: true, force: true })
  }
}

/** Throughput of `side` over that of `baseline` (time of baseline / time of side), median over runs. */
export const ratio = (result: BlobsResult, side: Side, baseline: Side) =>
  median(result.runs.map((run) => run[baseline].seconds / run[side].seconds))

export const peakRss = (result: BlobsResult, sides: ReadonlyArray<Side>) =>
  Math.max(...result.runs.flatMap((run) => sides.map((side) => run[side].peakRssMib)))

const labels: Record<Side, string> = {
  fsPut: "filesystem store: put (read, sha256, write, fsync, rename)",
  copyFile: "fs.copyFile",
  fsGet: "filesystem store: get, drained (sha256 checked)",
  rawRead: "raw read (createReadStream, drained)",
  s3Put: "S3 layer: put (multipart, sha256)",
  bareUpload: "bare SDK: lib-storage Upload, same part and queue size",
  s3Get: "S3 layer: get, drained (sha256 checked)",
  bareGet: "bare SDK: GetObject, body drained"
}

export const formatBlobs = (result: BlobsResult): string => {
  const mibPerSecond = (side: Side) => median(result.runs.map((run) => result.mebibytes / run[side].seconds))
  const rows = (Object.keys(labels) as Array<Side>).map((side) =>
    `| ${labels[side]} | ${mibPerSecond(side).toFixed(0)} | ${peakRss(result, [side]).toFixed(1)} |`
  )
  return [
    `One ${result.mebibytes} MiB file, ${result.runs.length} run(s); medians. Peak RSS is the process's resident memory above its level before the operation.`,
    "",
    "| operation | MiB/s | peak RSS growth (MiB) |",
    "|---|---|---|",
    ...rows,
    "",
    "| ratio (throughput) | value |",
    "|---|---|",
    `| filesystem upload: store put / fs.copyFile | ${ratio(result, "fsPut", "copyFile").toFixed(2)} |`,
    `| filesystem download: store get / raw read | ${ratio(result, "fsGet", "rawRead").toFixed(2)} |`,
    `| S3 upload: layer / bare SDK | ${ratio(result, "s3Put", "bareUpload").toFixed(2)} |`,
    `| S3 download: layer / bare SDK | ${ratio(result, "s3Get", "bareGet").toFixed(2)} |`
  ].join("\n")
}
