/**
 * The relay against a real `nats-server -js` (started here, on a free port of
 * 127.0.0.1) and the run's PostgreSQL: the stream holds every committed
 * change exactly once, in feed order, whatever happens to the relay or to NATS.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { SqlClient } from "@effect/sql"
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as JetStreamRelay from "../src/JetStreamRelay.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, withClient } from "./support/Database.js"
import { type NatsServer, startNatsServer } from "./support/natsServer.js"

let nats: NatsServer
let nc: NatsConnection
beforeAll(async () => {
  nats = await startNatsServer()
  nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
})
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL")
  await nc?.close()
  await nats?.remove()
})

const storeLayer = (url: string) =>
  Layer.mergeAll(Documents.layer, DocumentChanges.layer({ pollInterval: Duration.millis(20) })).pipe(
    Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 12 }))
  )

/** A migrated database of its own, a stream name and subject prefix of its own, and a store runtime. */
const setup = async () => {
  const url = await createDatabase("relay")
  const store = ManagedRuntime.make(storeLayer(url))
  await store.runPromise(Migrations.run())
  const tag = randomUUID().slice(0, 8)
  return { url, store, stream: `CHANGES_${tag}`, subjectPrefix: `docstore.t${tag}` }
}

type Setup = Awaited<ReturnType<typeof setup>>

const relayOptions = (s: Setup, servers = nats.url): JetStreamRelay.Options => ({
  servers,
  stream: s.stream,
  subjectPrefix: s.subjectPrefix,
  maxBatch: 200,
  leaseDuration: Duration.seconds(2),
  publishTimeout: Duration.seconds(1)
})

/** A relay of its own (as in another process: its own pool, feed and lease owner). */
const relayRuntime = (s: Setup, options: Partial<JetStreamRelay.Options> = {}) =>
  ManagedRuntime.make(JetStreamRelay.layer({ ...relayOptions(s), ...options }).pipe(Layer.provideMerge(storeLayer(s.url))))

const cliScript = path.resolve("src/cli.ts")
const children = new Set<ChildProcess>()

/**
 * `docstore relay` in a child process, with a short lease (so that a SIGKILLed one's lease
 * expires soon); resolves once it has connected to NATS. Node itself with tsx's loader, not the
 * tsx wrapper (which would not pass SIGKILL on: the relay would live on).
 */
const relayProcess = (s: Setup) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", cliScript, "relay", "--stream", s.stream], {
      env: {
        ...process.env,
        DATABASE_URL: s.url,
        NATS_URL: nats.url,
        NATS_SUBJECT_PREFIX: s.subjectPrefix,
        RELAY_MAX_BATCH: "200",
        RELAY_LEASE_DURATION: "2 seconds"
      },
      stdio: ["ignore", "ignore", "pipe"]
    })
    let err = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString()
      if (err.includes("relay: connected to NATS")) resolve(child)
    })
    children.add(child)
    child.on("exit", (code, signal) => {
      children.delete(child)
      reject(new Error(`relay process ended (${code ?? signal}):\n${err}`))
    })
  })

const sigkill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

/** Polls a condition every 50 ms; fails after `seconds`. */
const eventually = async (what: string, condition: () => Promise<boolean>, seconds = 60) => {
  const deadline = Date.now() + seconds * 1000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The stream's message count; 0 while the test's own connection has not yet reconnected after a restart. */
const streamCount = (stream: string) =>
  jetstreamManager(nc).then((jsm) => jsm.streams.info(stream)).then((info) => info.state.messages, () => 0)

interface Relayed {
  readonly seq: number
  readonly subject: string
  readonly msgId: string | undefined
  readonly body: { cursor: string; id: string; txId: string; workspaceId: string; documentId: string; kind: string; op: string }
}

/** Every message of the stream, in stream order, through an ordered consumer. */
const readStream = async (stream: string): Promise<Array<Relayed>> => {
  const total = await streamCount(stream)
  const messages: Array<Relayed> = []
  if (total === 0) return messages
  const consumer = await jetstream(nc).consumers.get(stream)
  const iterator = await consumer.consume()
  for await (const m of iterator) {
    messages.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get("Nats-Msg-Id"), body: m.json() })
    if (m.info.pending === 0) break
  }
  await iterator.close()
  return messages
}

/** The committed changes, in feed order, straight from the table. */
const committedChanges = (url: string) =>
  withClient(url, async (client) =>
    (await client.query<{ id: string; documentId: string }>(
      `SELECT c.id::text AS id, c.document_id::text AS "documentId" FROM document_changes c ORDER BY c.tx_id, c.id`
    )).rows)

/** Exactly the committed changes, once each, in feed order (so also per document), with their cursors as ids. */
const expectExactlyTheFeed = async (s: Setup) => {
  const [relayed, committed] = await Promise.all([readStream(s.stream), committedChanges(s.url)])
  expect(relayed.length).toBe(committed.length)
  expect(new Set(relayed.map((m) => m.body.id)).size).toBe(relayed.length)
  expect(relayed.map((m) => m.body.id)).toEqual(committed.map((c) => c.id))
  for (const m of relayed.slice(0, 50)) {
    expect(m.msgId).toBe(m.body.cursor)
    expect(m.subject).toBe(`${s.subjectPrefix}.${m.body.workspaceId}.${m.body.kind}.${m.body.op}`)
  }
  return relayed
}

/**
 * Writers: each transaction inserts `perTransaction` new documents with a first version (two
 * changes each, from the triggers; plain SQL, so the writers keep ahead of the relay on a loaded
 * machine); every `rollbackEvery`-th one fails after its inserts and rolls back. Each writer
 * commits its share of `transactions`.
 */
const writers = (options: { writers: number; transactions: number; perTransaction: number; rollbackEvery: number; workspaces: ReadonlyArray<string> }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rolledBack: Array<string> = []
    const writer = (w: number) =>
      Effect.gen(function*() {
        const share = Math.floor(options.transactions / options.writers) + (w < options.transactions % options.writers ? 1 : 0)
        for (let attempt = 0, committed = 0; committed < share; attempt++) {
          const workspaceId = options.workspaces[(w + attempt) % options.workspaces.length]!
          const ids: Array<string> = []
          const tx = Effect.gen(function*() {
            const rows = yield* sql<{ id: string }>`
              INSERT INTO files (id, workspace_id, kind, name, name_key)
              SELECT gen_random_uuid(), ${workspaceId}, 'input', n, n
              FROM (SELECT 'doc-' || gen_random_uuid() AS n FROM generate_series(1, ${options.perTransaction})) names
              RETURNING id`
            ids.push(...rows.map((row) => row.id))
            yield* sql`
              INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size)
              SELECT gen_random_uuid(), id, 1, 'k/' || id, 1 FROM files WHERE ${sql.in("id", ids)}`
            if (attempt % options.rollbackEvery === options.rollbackEvery - 1) return yield* Effect.fail("rolled back" as const)
          })
          const outcome = yield* Effect.either(sql.withTransaction(tx))
          if (outcome._tag === "Left") rolledBack.push(...ids)
          else committed++
        }
      })
    yield* Effect.all(Array.from({ length: options.writers }, (_, w) => writer(w)), { concurrency: "unbounded" })
    return { rolledBack }
  })

describe("JetStreamRelay", () => {
  it.live("puts every committed change into the stream exactly once, in feed order, through relays interrupted (twice) and SIGKILLed (a `docstore relay` process) mid-run", () =>
    Effect.promise(async () => {
      const s = await setup()
      const workspaces = [randomUUID(), randomUUID(), randomUUID()]
      // 8 writers × 50 commits × 25 documents × 2 changes = 20,000 committed changes; every 9th transaction rolls back.
      const writing = s.store.runPromise(writers({ writers: 8, transactions: 400, perTransaction: 25, rollbackEvery: 9, workspaces }))
      const kills: Array<{ how: string; at: number }> = []
      const atLeast = (n: number) => eventually(`${n} messages in the stream`, async () => (await streamCount(s.stream)) >= n)

      const statusOf = (relay: ReturnType<typeof relayRuntime>) =>
        relay.runPromise(Effect.flatMap(JetStreamRelay.JetStreamRelay, (r) => r.status))
      const inProcess = async (publishedAtLeast: number, alsoWaitFor: Promise<unknown> = Promise.resolve()) => {
        const relay = relayRuntime(s)
        const fiber = relay.runFork(JetStreamRelay.run)
        await eventually("the in-process relay to publish", async () => (await statusOf(relay)).published > 0)
        await Promise.all([atLeast(publishedAtLeast), alsoWaitFor])
        await relay.runPromise(Fiber.interrupt(fiber))
        await relay.dispose()
        kills.push({ how: "interrupted", at: await streamCount(s.stream) })
      }
      // `docstore relay` in a process of its own, started now: its start-up takes seconds here, so it
      // overlaps the in-process relays (it waits for the lease meanwhile) and takes over from the second.
      const child = relayProcess(s)
      await inProcess(2_000)
      await inProcess(6_000, child)
      const handedOver = await streamCount(s.stream)
      await eventually("the relay process to publish", async () => {
        const n = await streamCount(s.stream)
        return n > handedOver && n >= Math.min(handedOver + 3_000, 19_000)
      })
      await sigkill(await child)
      kills.push({ how: "SIGKILLed", at: await streamCount(s.stream) })
      const { rolledBack } = await writing
      const last = relayRuntime(s)
      const fiber = last.runFork(JetStreamRelay.run)
      await eventually("all 20,000 changes in the stream", async () => (await streamCount(s.stream)) >= 20_000)
      const relayed = await expectExactlyTheFeed(s)
      expect(relayed.length).toBe(20_000)
      // Three relays stopped while changes were still to be relayed, each followed by another.
      expect(kills.map((kill) => kill.how)).toEqual(["interrupted", "interrupted", "SIGKILLed"])
      for (const kill of kills) expect(kill.at).toBeLessThan(20_000)
      // Nothing of a rolled-back transaction.
      expect(rolledBack.length).toBeGreaterThan(0)
      const gone = new Set(rolledBack)
      expect(relayed.filter((m) => gone.has(m.body.documentId))).toEqual([])
      // Per document: created, then version_added.
      const ops = new Map<string, Array<string>>()
      for (const m of relayed) ops.set(m.body.documentId, [...(ops.get(m.body.documentId) ?? []), m.body.op])
      for (const sequence of ops.values()) expect(sequence).toEqual(["created", "version_added"])
      await last.runPromise(Fiber.interrupt(fiber))
      await last.dispose()
      await s.store.dispose()
    }), { timeout: 180_000 })

  it.live("waits while the NATS server is down, then catches up with nothing lost, its lag metric rising and falling", () =>
    Effect.promise(async () => {
      const s = await setup()
      const workspaces = [randomUUID()]
      const relay = relayRuntime(s, { lagInterval: Duration.millis(100) })
      const lag = () => relay.runPromise(Metric.value(JetStreamRelay.metrics.lagChanges)).then((state) => state.value)
      const fiber = relay.runFork(JetStreamRelay.run)
      const write = (transactions: number) =>
        s.store.runPromise(writers({ writers: 2, transactions, perTransaction: 5, rollbackEvery: 1000, workspaces }))
      await write(20)
      await eventually("200 messages", async () => (await streamCount(s.stream)) >= 200)
      await nats.stop()
      await write(20)
      // The relay tried, failed and says why.
      await eventually("a failed batch", async () => (await relay.runPromise(JetStreamRelay.JetStreamRelay.pipe(Effect.flatMap((r) => r.status)))).failures > 0)
      const status = await relay.runPromise(Effect.flatMap(JetStreamRelay.JetStreamRelay, (r) => r.status))
      expect(status.lastError).toMatch(/publishing|stream/)
      // What was written meanwhile shows as lag: 20 transactions × 5 documents × 2 changes.
      await eventually("a lag of 200 changes", async () => (await lag()) === 200)
      await nats.start()
      await write(20)
      await eventually("600 messages", async () => (await streamCount(s.stream)) >= 600)
      const relayed = await expectExactlyTheFeed(s)
      expect(relayed.length).toBe(600)
      await eventually("no lag", async () => (await lag()) === 0)
      await relay.runPromise(Fiber.interrupt(fiber))
      await relay.dispose()
      await s.store.dispose()
    }), { timeout: 120_000 })

  it.live("lets one of two relays started at once publish while the other waits, with no duplicate", () =>
    Effect.promise(async () => {
      const s = await setup()
      const workspaces = [randomUUID()]
      const a = relayRuntime(s)
      const b = relayRuntime(s)
      const fibers = [a.runFork(JetStreamRelay.run), b.runFork(JetStreamRelay.run)]
      const statusOf = (relay: typeof a) => relay.runPromise(Effect.flatMap(JetStreamRelay.JetStreamRelay, (r) => r.status))
      const write = (transactions: number) =>
        s.store.runPromise(writers({ writers: 2, transactions, perTransaction: 5, rollbackEvery: 1000, workspaces }))
      await write(30)
      const publishedBy = async () => [(await statusOf(a)).published, (await statusOf(b)).published] as const
      await eventually("300 published", async () => (await publishedBy()).reduce((x, y) => x + y) >= 300)
      const [first, second] = [await statusOf(a), await statusOf(b)]
      expect([first.published, second.published].sort((x, y) => x - y)).toEqual([0, 300])
      // The holder stops; the waiting one takes over from the checkpoint.
      const [holder, waiting] = first.published > 0 ? [0, b] : [1, a]
      await (holder === 0 ? a : b).runPromise(Fiber.interrupt(fibers[holder]!))
      await write(10)
      await eventually("100 published by the other", async () => (await statusOf(waiting)).published >= 100)
      expect((await statusOf(waiting)).published).toBe(100)
      expect(await streamCount(s.stream)).toBe(400)
      await expectExactlyTheFeed(s)
      await waiting.runPromise(Fiber.interrupt(fibers[1 - holder]!))
      await Promise.all([a.dispose(), b.dispose()])
      await s.store.dispose()
    }), { timeout: 120_000 })

  it.live("gives a JetStream consumer filtered on one workspace's subject exactly that workspace's changes", () =>
    Effect.promise(async () => {
      const s = await setup()
      const [mine, other] = [randomUUID(), randomUUID()]
      const relay = relayRuntime(s)
      const fiber = relay.runFork(JetStreamRelay.run)
      await s.store.runPromise(writers({ writers: 2, transactions: 20, perTransaction: 4, rollbackEvery: 1000, workspaces: [mine, other] }))
      await eventually("160 messages", async () => (await streamCount(s.stream)) >= 160)
      // A durable pull consumer of another service, on this workspace's subjects only.
      const jsm = await jetstreamManager(nc)
      await jsm.consumers.add(s.stream, {
        durable_name: "search-indexer",
        filter_subject: `${s.subjectPrefix}.${mine}.>`,
        ack_policy: AckPolicy.Explicit
      })
      const ours = await withClient(s.url, async (client) =>
        (await client.query<{ id: string }>(`SELECT c.id::text AS id FROM document_changes c WHERE c.workspace_id = $1 ORDER BY c.tx_id, c.id`, [mine])).rows)
      expect(ours.length).toBeGreaterThan(0)
      expect(ours.length).toBeLessThan(160)
      const consumer = await jetstream(nc).consumers.get(s.stream, "search-indexer")
      const received: Array<Relayed["body"]> = []
      for await (const m of await consumer.fetch({ max_messages: ours.length, expires: 10_000 })) {
        received.push(m.json())
        m.ack()
      }
      // Nothing else was waiting for it.
      expect((await consumer.info()).num_pending).toBe(0)
      expect(received.map((change) => change.id)).toEqual(ours.map((row) => row.id))
      expect(received.every((change) => change.workspaceId === mine)).toBe(true)
      await relay.runPromise(Fiber.interrupt(fiber))
      await relay.dispose()
      await s.store.dispose()
    }), { timeout: 60_000 })

  it.live("rejects a bad stream name or subject prefix with InvalidInput naming the field", () =>
    Effect.promise(async () => {
      const s = await setup()
      const invalid = (options: Partial<JetStreamRelay.Options>) =>
        s.store.runPromise(Effect.flip(JetStreamRelay.make({ ...relayOptions(s), ...options })))
      expect(await invalid({ stream: "has.dots" })).toMatchObject({ _tag: "InvalidInput", field: "stream" })
      expect(await invalid({ subjectPrefix: "docstore.>" })).toMatchObject({ _tag: "InvalidInput", field: "subjectPrefix" })
      expect(await invalid({ maxBatch: 0 })).toMatchObject({ _tag: "InvalidInput", field: "maxBatch" })
      await s.store.dispose()
    }))
})
