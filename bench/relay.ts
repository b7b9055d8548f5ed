/**
 * The JetStream relay (src/JetStreamRelay.ts) against the feed it reads, in
 * one run: a log of N changes is read once by a bare stream catch-up (the
 * baseline: what the feed alone delivers) and once relayed into a fresh
 * JetStream stream (changes/s until the stream holds all N); then, with the
 * relay live, documents written one at a time, and the time from each
 * write's commit to its arrival at a JetStream subscriber. The NATS server is
 * the Debian `nats-server -js`, started here (test/support/natsServer.ts).
 */
import { randomUUID } from "node:crypto"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as JetStreamRelay from "../src/JetStreamRelay.js"
import * as Migrations from "../src/Migrations.js"
import { startNatsServer } from "../test/support/natsServer.js"
import { createDatabase, databaseUrl, dropDatabase, uniqueName, withClient } from "./server.js"
import { median } from "./stores.js"

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

export interface RelayRun {
  readonly catchUpPerSecond: number
  /** The same number of change-sized messages published bare (pipelined, 1,000 at a time, no headers). */
  readonly barePublishPerSecond: number
  readonly relayPerSecond: number
  readonly p50: number
  readonly p99: number
}

export interface RelayResult {
  readonly changes: number
  readonly samples: number
  readonly runs: ReadonlyArray<RelayRun>
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

const until = async (condition: () => Promise<boolean>, seconds: number) => {
  const deadline = Date.now() + seconds * 1000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`bench/relay: gave up after ${seconds} s`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** N changes: N/2 documents with a first version, inserted by plain SQL in chunks (the triggers write the log). */
const fill = (url: string, changes: number) =>
  withClient(url, async (client) => {
    const workspaceId = randomUUID()
    for (let done = 0; done < changes / 2; done += 5_000) {
      const n = Math.min(5_000, changes / 2 - done)
      await client.query("BEGIN")
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO files (id, workspace_id, kind, name, name_key)
         SELECT gen_random_uuid(), $1, 'input', 'd-' || g || '-' || $2, 'd-' || g || '-' || $2 FROM generate_series(1, $3) g RETURNING id`,
        [workspaceId, done, n]
      )
      await client.query(
        `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size)
         SELECT gen_random_uuid(), f, 1, 'k/' || f, 1 FROM unnest($1::uuid[]) f`,
        [rows.map((row) => row.id)]
      )
      await client.query("COMMIT")
    }
    return workspaceId
  })

const oneRun = async (serverUrl: string, natsUrl: string, changes: number, samples: number, log: (line: string) => void): Promise<RelayRun> => {
  const name = uniqueName("bench_relay")
  await createDatabase(serverUrl, name)
  const url = databaseUrl(serverUrl, name)
  const store = ManagedRuntime.make(
    Layer.mergeAll(Documents.layer, DocumentChanges.layer()).pipe(
      Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 8 })),
      Layer.provide(quiet)
    )
  )
  const stream = `BENCH_${randomUUID().slice(0, 8)}`
  const subjectPrefix = `bench.${stream.toLowerCase()}`
  const nc = await connect({ servers: natsUrl })
  const relay = ManagedRuntime.make(
    JetStreamRelay.layer({ servers: natsUrl, stream, subjectPrefix, maxBatch: 1_000 }).pipe(
      Layer.provideMerge(DocumentChanges.layer().pipe(
        Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 4 }))
      )),
      Layer.provide(quiet)
    )
  )
  try {
    await store.runPromise(Migrations.run())
    const workspaceId = await fill(url, changes)

    // The baseline: the feed's own catch-up over the same log.
    let started = performance.now()
    const read = await store.runPromise(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
      feed.stream({ from: "beginning" }).pipe(
        Stream.takeWhile((event) => event._tag !== "CaughtUp"),
        Stream.runCount
      )))
    const catchUpPerSecond = read / ((performance.now() - started) / 1000)
    if (read !== changes) throw new Error(`bench/relay: the catch-up read ${read} changes, not ${changes}`)

    // The NATS side alone: as many change-sized messages, published bare into a stream of their own.
    const jsm = await jetstreamManager(nc)
    const bare = `${stream}_BARE`
    await jsm.streams.add({ name: bare, subjects: [`${subjectPrefix}-bare.>`] })
    const js = jetstream(nc)
    const body = JSON.stringify({
      cursor: "A".repeat(50), id: "1000000", txId: "1000000", workspaceId, documentId: randomUUID(),
      kind: "input", op: "version_added", versionNo: 1, changedAt: new Date().toISOString()
    })
    started = performance.now()
    for (let done = 0; done < changes; done += 1_000) {
      const n = Math.min(1_000, changes - done)
      await Promise.all(Array.from({ length: n }, () => js.publish(`${subjectPrefix}-bare.${workspaceId}.input.version_added`, body)))
    }
    const barePublishPerSecond = changes / ((performance.now() - started) / 1000)
    await jsm.streams.delete(bare)

    // The relay over the same log, into an empty stream.
    const count = () => jsm.streams.info(stream).then((info) => info.state.messages, () => 0)
    started = performance.now()
    const fiber = relay.runFork(JetStreamRelay.run)
    await until(async () => (await count()) >= changes, 600)
    const relayPerSecond = changes / ((performance.now() - started) / 1000)
    log(`relay: ${changes} changes, catch-up ${catchUpPerSecond.toFixed(0)}/s, bare publish ${barePublishPerSecond.toFixed(0)}/s, relay ${relayPerSecond.toFixed(0)}/s`)

    // Live: commit to a JetStream subscriber (an ordered consumer of this workspace's version_added subjects).
    const consumer = await jetstream(nc).consumers.get(stream, {
      // One subject as a string: a list needs nats-server 2.10 (Debian's is 2.9).
      filter_subjects: `${subjectPrefix}.${workspaceId}.input.version_added`,
      opt_start_seq: changes + 1
    })
    const messages = await consumer.consume()
    const arrived = new Map<string, number>()
    void (async () => {
      for await (const m of messages) arrived.set(m.json<{ documentId: string }>().documentId, performance.now())
    })()
    const committed = new Map<string, number>()
    const documents = await store.runPromise(Documents.Documents)
    for (let i = 0; i < samples; i++) {
      const written = await store.runPromise(documents.put({
        kind: "input", workspaceId, name: `live-${i}.txt`, version: { storageKey: `k/${i}`, byteSize: 1 }
      }))
      committed.set(written.document.id, performance.now())
      // Paced, so each sample sees an idle relay (not a batch behind the previous ones).
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await until(async () => arrived.size >= samples, 60)
    await messages.close()
    const latencies = [...committed].map(([id, at]) => arrived.get(id)! - at).sort((a, b) => a - b)
    await relay.runPromise(Fiber.interrupt(fiber))
    await jsm.streams.delete(stream)
    return { catchUpPerSecond, barePublishPerSecond, relayPerSecond, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) }
  } finally {
    await relay.dispose()
    await nc.close()
    await store.dispose()
    await dropDatabase(serverUrl, name)
  }
}

export const runRelayBench = async (options: {
  readonly serverUrl: string
  readonly changes: number
  readonly samples: number
  readonly runs: number
  readonly log: (line: string) => void
}): Promise<RelayResult> => {
  const nats = await startNatsServer()
  try {
    const runs: Array<RelayRun> = []
    for (let run = 0; run < options.runs; run++) {
      runs.push(await oneRun(options.serverUrl, nats.url, options.changes, options.samples, options.log))
    }
    return { changes: options.changes, samples: options.samples, runs }
  } finally {
    await nats.remove()
  }
}

export const throughputRatio = (run: RelayRun) => run.relayPerSecond / run.catchUpPerSecond
export const publishRatio = (run: RelayRun) => run.relayPerSecond / run.barePublishPerSecond

export const formatRelay = (result: RelayResult): string => {
  const n = (x: number) => Math.round(x).toLocaleString("en-US")
  const rows = result.runs.map((run, i) =>
    `| ${i + 1} | ${n(run.catchUpPerSecond)} | ${n(run.barePublishPerSecond)} | ${n(run.relayPerSecond)} | ` +
    `${throughputRatio(run).toFixed(2)} | ${publishRatio(run).toFixed(2)} | ${run.p50.toFixed(1)} | ${run.p99.toFixed(1)} |`
  )
  const m = (f: (run: RelayRun) => number) => median(result.runs.map(f))
  return [
    `${n(result.changes)} changes in the log; ${result.samples} live writes for the latency.`,
    "",
    "| run | feed catch-up (changes/s) | bare JetStream publish (msgs/s) | relay into JetStream (changes/s) | " +
    "relay / catch-up | relay / bare publish | commit → subscriber p50 (ms) | p99 (ms) |",
    "|---|---|---|---|---|---|---|---|",
    ...rows,
    `| median | ${n(m((r) => r.catchUpPerSecond))} | ${n(m((r) => r.barePublishPerSecond))} | ${n(m((r) => r.relayPerSecond))} | ` +
    `${m(throughputRatio).toFixed(2)} | ${m(publishRatio).toFixed(2)} | ${m((r) => r.p50).toFixed(1)} | ${m((r) => r.p99).toFixed(1)} |`,
    "",
    "The relay cannot be faster than the slower of its two sides: the feed's catch-up (reading) and JetStream " +
    "accepting pipelined publishes (the bare column). Its live latency has a floor of about 50 ms: `consume` " +
    "groups a batch for up to 50 ms before its handler runs."
  ].join("\n")
}
