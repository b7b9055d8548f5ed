/**
 * Every benchmark, by the name given on the command line (bench/run.ts), and
 * the smoke sizes the test suite runs them at (test/bench.test.ts).
 */
import { formatBlobs, peakRss, ratio as blobRatio, runBlobsBench } from "./blobs.js"
import {
  copyRatio as bulkCopyRatio,
  streamCopyRatio as bulkStreamCopyRatio,
  streamHeapGrowth,
  formatBulk,
  runBulkBench,
  serviceRatio as bulkServiceRatio,
  statementsRatio as bulkStatementsRatio,
  triggerRatio as bulkTriggerRatio
} from "./bulk.js"
import { runFeedBench } from "./feed.js"
import { catchUpRatio, formatHttp, getRatio, listRatio, runHttpBench } from "./http.js"
import { formatKeyset, growth, runKeysetBench } from "./keyset.js"
import { formatMigrationBench, readingTheRatio, runMigrationBench } from "./migration.js"
import { formatRelay, publishRatio, runRelayBench, throughputRatio } from "./relay.js"
import { formatScaling, growth as scalingGrowth, runScalingBench } from "./scaling.js"
import { median } from "./stores.js"
import { formatWrites, inEffectRatio, runWritesBench, serviceRatio, triggerRatio } from "./writes.js"

export interface BenchContext {
  readonly url: string
  /** --size: the benchmark's main size (see `Benchmark.size`), when given. */
  readonly size: number | undefined
  /** --runs, when given. */
  readonly runs: number | undefined
  /** A tiny run that only shows the benchmark works end to end (the test suite's). */
  readonly smoke: boolean
  readonly log: (line: string) => void
}

/** One line of the summary table: a measured figure beside its target. */
export interface Figure {
  readonly path: string
  readonly value: number
  readonly display: string
  readonly target: string
  readonly met: boolean
}

export interface BenchReport {
  /** Markdown for docs/benchmarks.md (also printed). */
  readonly markdown: string
  readonly figures: ReadonlyArray<Figure>
}

export interface Benchmark {
  readonly title: string
  readonly description: string
  /** What --size sets, and its default. */
  readonly size: string
  readonly run: (context: BenchContext) => Promise<BenchReport>
}

const atLeast = (path: string, value: number, target: number): Figure => ({
  path, value, display: value.toFixed(2), target: `>= ${target}`, met: value >= target
})
const atMost = (path: string, value: number, target: number, unit = ""): Figure => ({
  path, value, display: `${value.toFixed(unit === "" ? 2 : 1)}${unit}`, target: `<= ${target}${unit}`, met: value <= target
})

// On this shared machine a write ratio moves by up to 0.3 between the runs of one invocation; the write
// benchmarks are quick, so their median is taken over five runs.
const writeRuns = 5

export const benchmarks: Readonly<Record<string, Benchmark>> = {
  writes: {
    title: "Single-document writes: Documents.put against bare pg, and the change-feed trigger cost",
    description:
      "One new input document with its first version per transaction, on 8 concurrent lanes with pools of 8 " +
      "connections. `Documents.put` (validation, the key's advisory lock, upsert-and-lock, version insert, result rows, the change " +
      "feed's wake-up, carried by the statement or sent after it) against bare `pg` sending the same statement " +
      "(no wake-up), both into a migrated database with the change-feed triggers; `put` is called once per write " +
      "through `runtime.runPromise` (a caller outside Effect) and, as a second side, by fibers of one effect (a " +
      "caller inside Effect); and the same bare `pg` writes into " +
      "an identical database without the change-feed triggers (bench/writes.ts). Each side first makes 1,000 " +
      "writes that are not measured; then each run's writes go in 6 slices, the sides taking turns in an order " +
      "that rotates, so that the machine's drift hits every side.",
    size: "writes per side per run (default 3,000)",
    run: async ({ log, runs, size, smoke, url }) => {
      const result = await runWritesBench({
        serverUrl: url, writes: size ?? (smoke ? 30 : 3_000), lanes: smoke ? 2 : 8, runs: runs ?? (smoke ? 1 : writeRuns), log
      })
      return {
        markdown: formatWrites(result),
        figures: [
          atLeast("single-document write: Documents.put / bare pg, same statements", median(result.runs.map(serviceRatio)), 0.9),
          atLeast(
            "single-document write, caller inside Effect: Documents.put / bare pg",
            median(result.runs.map(inEffectRatio)),
            0.9
          ),
          atLeast("change-feed trigger cost, single writes: with / without triggers", median(result.runs.map(triggerRatio)), 0.85)
        ]
      }
    }
  },
  blobs: {
    title: "Blob bytes: the filesystem store against the filesystem, the S3 store against the bare AWS SDK",
    description:
      "One file through `BlobStore.layerFileSystem` (put against `fs.copyFile`, get against a raw read) and through " +
      "`BlobStore.layerS3` on s3rver (put and get against the bare SDK's same calls), with each operation's peak " +
      "resident memory growth (bench/blobs.ts). Uses no database.",
    size: "the file's size in MiB (default 1,024)",
    run: async ({ log, runs, size, smoke }) => {
      const result = await runBlobsBench({ mebibytes: size ?? (smoke ? 2 : 1024), runs: runs ?? (smoke ? 1 : 3), log })
      return {
        markdown: formatBlobs(result),
        figures: [
          atLeast("blob upload, filesystem: store put / fs.copyFile", blobRatio(result, "fsPut", "copyFile"), 0.25),
          atLeast("blob download, filesystem: store get / raw read", blobRatio(result, "fsGet", "rawRead"), 0.5),
          atLeast("blob upload, S3: layer / bare SDK", blobRatio(result, "s3Put", "bareUpload"), 0.8),
          atLeast("blob download, S3: layer / bare SDK", blobRatio(result, "s3Get", "bareGet"), 0.8),
          atMost(
            `blob peak RSS growth, ${result.mebibytes} MiB file, filesystem store`,
            // A positive floor: at a tiny size the growth can round to nothing.
            Math.max(0.1, peakRss(result, ["fsPut", "fsGet"])),
            64,
            " MiB"
          )
        ]
      }
    }
  },
  bulk: {
    title: "Bulk writes: Documents.putMany and putStream against a multi-row INSERT and COPY, and the change-feed trigger cost",
    description:
      "An import of new documents with two versions each in one call (`putMany`: validation, keys, the upsert of " +
      "every key, the insert of every version, the change-feed triggers) against bare `pg` inserting the same rows " +
      "with two multi-row INSERTs (`INSERT ... SELECT FROM unnest(...)`) in one transaction into a database " +
      "without the change-feed triggers; against the fastest bare load measured, `COPY` of the same rows into the " +
      "tables without the triggers (bench/bulkShapes.ts), for putMany and for putStream of the same requests; " +
      "against putMany's own statements sent by bare `pg` into a database with the triggers (what the library " +
      "adds), and those statements against that `COPY` (the floor of putMany's ratio to it); " +
      "putStream's memory at two sizes; and those bare INSERTs with the triggers against without (bench/bulk.ts).",
    size: "versions per import (default 100,000)",
    run: async ({ log, runs, size, smoke, url }) => {
      const result = await runBulkBench({
        serverUrl: url, versions: size ?? (smoke ? 2_000 : 100_000), runs: runs ?? (smoke ? 1 : writeRuns), log,
        streamSizes: smoke ? [2_000, 20_000] : [100_000, 1_000_000]
      })
      return {
        markdown: formatBulk(result),
        figures: [
          atLeast(
            `bulk write of ${result.versions.toLocaleString("en-US")} versions: putMany / multi-row INSERT without triggers`,
            median(result.runs.map(bulkServiceRatio)),
            0.85
          ),
          atLeast(
            `bulk write of ${result.versions.toLocaleString("en-US")} versions: putMany / COPY without triggers (fastest bare load)`,
            median(result.runs.map(bulkCopyRatio)),
            0.85
          ),
          atLeast(
            `bulk write of ${result.versions.toLocaleString("en-US")} versions: putStream / COPY without triggers (fastest bare load)`,
            median(result.runs.map(bulkStreamCopyRatio)),
            0.85
          ),
          atLeast(
            `bulk write of ${result.versions.toLocaleString("en-US")} versions: putMany / its own statements by bare pg, with the triggers`,
            median(result.runs.map(bulkStatementsRatio)),
            0.9
          ),
          atMost(
            `putStream peak heap growth, ${result.memory.at(-1)!.versions.toLocaleString("en-US")} / ` +
              `${result.memory[0]!.versions.toLocaleString("en-US")} versions (flat: 1)`,
            streamHeapGrowth(result),
            1.5
          ),
          atLeast("change-feed trigger cost, bulk: with / without triggers", median(result.runs.map(bulkTriggerRatio)), 0.9)
        ]
      }
    }
  },
  feed: {
    title: "Change feed: catch-up throughput, live latency, queries with idle subscribers",
    description:
      "DocumentChanges against bare `pg` doing the same work, side by side in one run, each in a database of its own " +
      "(bench/feed.ts, child subscriber bench/feedChild.ts).",
    size: "changes read by the catch-up (default 1,000,000)",
    run: async ({ log, runs, size, smoke, url }) => {
      const result = await runFeedBench({
        serverUrl: url, changes: size ?? (smoke ? 5_000 : 1_000_000), runs: runs ?? (smoke ? 1 : 3), smoke, log
      })
      return {
        markdown: result.markdown,
        figures: [
          atLeast("stream catch-up / bare pg keyset loop", result.catchUpVsKeyset, 0.8),
          atLeast("stream catch-up / COPY", result.catchUpVsCopy, 0.25),
          atMost("live delivery p99, library writes, subscriber in another process", result.childP99, 15, " ms"),
          atMost("live delivery p99, raw SQL writes (poll interval 100 ms)", result.pollP99, 110, " ms"),
          atMost(`feed queries/s, ${result.subscribers.toLocaleString("en-US")} live subscribers / 1`, result.subscribersRatio, 1.1)
        ]
      }
    }
  },
  http: {
    title: "The HTTP API (docstore serve) against the library called directly",
    description:
      "Requests/s of `GET .../documents/:id` and `GET .../documents?limit=100` over HTTP (node fetch, a server in the " +
      "same process, bearer token checked on each request) against `Documents.get` / `list` called directly; catch-up " +
      "rows/s over HTTP (chunks of 10,000 JSON lines) against `DocumentChanges.stream`; and the latency from `put` " +
      "returning to the change arriving at an SSE client (bench/http.ts).",
    size: "changes read by the catch-up (default 200,000)",
    run: async ({ log, runs, size, smoke, url }) => {
      const result = await runHttpBench({
        serverUrl: url,
        requests: smoke ? 50 : 2_000,
        changes: size ?? (smoke ? 2_000 : 200_000),
        latencySamples: smoke ? 10 : 200,
        runs: runs ?? (smoke ? 1 : 3),
        log
      })
      return {
        markdown: formatHttp(result),
        figures: [
          atLeast("HTTP get / Documents.get, requests/s", median(result.runs.map(getRatio)), 0.3),
          atLeast("HTTP list / Documents.list, requests/s", median(result.runs.map(listRatio)), 0.3),
          atLeast("HTTP catch-up / DocumentChanges.stream, rows/s", median(result.runs.map(catchUpRatio)), 0.5),
          atMost("commit to SSE client p99", result.latency.p99, 50, " ms")
        ]
      }
    }
  },
  keyset: {
    title: "Keyset page latency as the change log grows",
    description:
      "One page of the change feed from a random cursor, in a log of 10,000 changes and in one of 10,000,000 " +
      "(bench/keyset.ts); the ratio of the medians shows whether a page costs more as the log grows.",
    size: "changes in the large log (default 10,000,000; the small one has 10,000)",
    run: async ({ log, runs, size, smoke, url }) => {
      const result = await runKeysetBench({
        serverUrl: url,
        small: smoke ? 2_000 : 10_000,
        large: size ?? (smoke ? 20_000 : 10_000_000),
        samples: smoke ? 5 : 100,
        runs: runs ?? (smoke ? 1 : 3),
        log
      })
      return {
        markdown: formatKeyset(result),
        figures: [
          atMost(
            `keyset page latency at ${result.sizes[1].changes.toLocaleString("en-US")} / at ${result.sizes[0].changes.toLocaleString("en-US")} changes`,
            growth(result, "stream"),
            1.5
          )
        ]
      }
    }
  },
  scaling: {
    title: "How the everyday operations grow with documents and versions",
    description:
      "`put`, `get`, `list`, `latestVersion` and an import (`putMany`) in a small and a large database (bench/scaling.ts), the same " +
      "calls in each; the ratio of the medians shows how the cost grows with the data (1 means it does not).",
    size: "documents in the large database (default 1,000,000; the small one has 10,000)",
    run: async ({ log, runs, size, smoke, url }) => {
      const result = await runScalingBench({
        serverUrl: url,
        small: smoke ? 1_000 : 10_000,
        large: size ?? (smoke ? 10_000 : 1_000_000),
        versionsLarge: smoke ? 100 : 10_000,
        samples: smoke ? 5 : 100,
        importVersions: smoke ? 200 : 10_000,
        runs: runs ?? (smoke ? 1 : 3),
        log
      })
      const n = (x: number) => x.toLocaleString("en-US")
      return {
        markdown: formatScaling(result),
        figures: [
          atMost(`put of a new document at ${n(result.sizes[1])} / at ${n(result.sizes[0])} documents`, scalingGrowth(result, "put a new document"), 1.5),
          atMost(`list page at ${n(result.sizes[1])} / at ${n(result.sizes[0])} documents`, scalingGrowth(result, "list a page"), 1.5),
          atMost(`put of the next version at ${n(result.versions[1])} / at 1 version`, scalingGrowth(result, "put the next version"), 1.5),
          atMost(
            `import of ${n(result.importVersions)} versions at ${n(result.sizes[1])} / at ${n(result.sizes[0])} documents`,
            scalingGrowth(result, "import"),
            1.5
          )
        ]
      }
    }
  },
  relay: {
    title: "JetStream relay: throughput against the feed's catch-up, and commit-to-subscriber latency",
    description:
      "A log of N changes read by the feed's own catch-up (the first baseline); as many change-sized messages " +
      "published bare to JetStream, pipelined 1,000 at a time (the second); then the log relayed by `JetStreamRelay` into an " +
      "empty stream of a local `nats-server -js` (file storage), timed until the stream holds all N; then, with the " +
      "relay live, documents written one at a time (20 ms apart) and the time from each `put`'s commit to its " +
      "arrival at a JetStream consumer in the same process (bench/relay.ts).",
    size: "changes in the log (default 200,000)",
    run: async ({ log, runs, size, smoke, url }) => {
      const result = await runRelayBench({
        serverUrl: url, changes: size ?? (smoke ? 2_000 : 200_000), samples: smoke ? 20 : 300, runs: runs ?? (smoke ? 1 : 3), log
      })
      return {
        markdown: formatRelay(result),
        figures: [
          atLeast("relay into JetStream / feed catch-up, changes/s", median(result.runs.map(throughputRatio)), 0.1),
          atLeast("relay into JetStream / bare JetStream publish, per second", median(result.runs.map(publishRatio)), 0.5),
          atMost("commit to JetStream subscriber p99", median(result.runs.map((r) => r.p99)), 150, " ms")
        ]
      }
    }
  },
  migration: {
    title: "Migration from the legacy schema (0001 adopt + 0002 + 0003)",
    description:
      "A generated legacy database (bench/legacyData.ts) is copied from a template; one copy is migrated by " +
      "the real migration (`Migrations.run`, steps 0001-0003, in a child Node process so that its peak RSS is " +
      "the migration's alone), the other by the same transformation written as plain SQL in one transaction " +
      "(bench/plainSql.ts). Both are timed from BEGIN to COMMIT; each run checks that files and file_versions " +
      "kept every row and that document_changes has one `created` row per document. Two sizes: the given " +
      "number of documents (about 2 versions each) and a tenth of it, to see how time and memory grow with size.",
    size: "documents of the large size (default 1,000,000; the small size is a tenth)",
    run: async ({ log, runs, size, smoke, url }) => {
      const result = await runMigrationBench({ documents: size ?? (smoke ? 2_000 : 1_000_000), runs: runs ?? (smoke ? 1 : 3), log, url })
      const [small, large] = result.sizes
      const peak = (s: typeof large) => median(s!.runs.map((r) => r.maxRssMb))
      return {
        markdown: `${formatMigrationBench(result)}\n\n${readingTheRatio}`,
        figures: [
          atMost(
            `migration of ${large!.documents.toLocaleString("en-US")} documents / the same in plain SQL`,
            median(large!.runs.map((r) => r.ratio)),
            2
          ),
          {
            ...atMost(
              `migration peak RSS at ${large!.documents.toLocaleString("en-US")} / at ${small!.documents.toLocaleString("en-US")} documents`,
              peak(large) / peak(small),
              1.5
            ),
            display: `${(peak(large) / peak(small)).toFixed(2)} (${peak(small).toFixed(0)} → ${peak(large).toFixed(0)} MB)`
          }
        ]
      }
    }
  }
}
