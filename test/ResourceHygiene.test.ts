/**
 * Resource hygiene: opening and interrupting streams and durable consumers
 * over and over leaves nothing behind (connections, heap, leases, a busy
 * poller), and a subscriber that stops pulling cannot make memory grow with
 * the number of changes written meanwhile.
 *
 * Heap figures are taken after a full garbage collection: vitest's workers do
 * not expose `gc`, so it is switched on with `v8.setFlagsFromString`.
 */
import { randomUUID } from "node:crypto"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, withClient } from "./support/Database.js"
import { untilSentinel } from "./support/sentinel.js"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

/** Heap in use after full collections, in bytes. */
const heapUsed = () => {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`

const maxConnections = 10

const store = async (options: DocumentChanges.Options = {}) => {
  const url = await createDatabase("hygiene")
  const runtime = ManagedRuntime.make(
    Layer.mergeAll(Documents.layer, DocumentChanges.layer(options)).pipe(
      Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections }))
    )
  )
  await runtime.runPromise(Migrations.run().pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
  return { url, runtime, database: new URL(url).pathname.slice(1) }
}

/** The server's connections to the test database, other than the one asking. */
const connections = (url: string) =>
  withClient(url, async (client) =>
    Number((await client.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`
    )).rows[0].n))

/** How many change-feed reads the server has executed for this database (pg_stat_statements). */
const feedReads = (url: string) =>
  withClient(url, async (client) => {
    await client.query(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
    return Number((await client.query(
      `SELECT coalesce(sum(calls), 0)::text AS calls FROM pg_stat_statements
       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND query LIKE '%FROM document_feed f%CROSS JOIN LATERAL%'`
    )).rows[0].calls)
  })

const inputs = (workspaceId: string, count: number): Array<Documents.PutRequest> =>
  Array.from({ length: count }, () => ({
    kind: "input",
    workspaceId,
    name: `${randomUUID()}.txt`,
    version: { storageKey: `k/${randomUUID()}`, byteSize: 1 }
  }))

const putMany = (requests: ReadonlyArray<Documents.PutRequest>) =>
  Effect.flatMap(Documents.Documents, (documents) => documents.putMany(requests))

/**
 * Never more than the pool's maximum plus the wake-up listener; and back at the baseline at the latest when
 * the extra idle connections the pool opened meanwhile (for concurrent cancellations and releases) reach
 * pg's idle timeout (10 s).
 */
const connectionsBackAt = (url: string, baseline: number, now: number) =>
  Effect.gen(function*() {
    expect(now).toBeLessThanOrEqual(maxConnections + 1)
    yield* eventually(Effect.promise(async () => (await connections(url)) <= baseline), "the connections are back at the baseline", 15)
  })

/** Polls until `condition` holds, failing the test after `seconds`. */
const eventually = (condition: Effect.Effect<boolean>, what: string, seconds = 10) =>
  Effect.gen(function*() {
    const deadline = Date.now() + seconds * 1000
    while (!(yield* condition)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
      yield* Effect.sleep(Duration.millis(20))
    }
  })

describe("Resource hygiene", () => {
  it.live(
    "1,000 cycles of opening, reading and interrupting streams leave the connection count, the heap and the poller " +
      "at their baselines",
    () =>
      Effect.gen(function*() {
        const { runtime, url } = yield* Effect.promise(() => store())
        const workspaces = [randomUUID(), randomUUID()]
        yield* Effect.promise(() => runtime.runPromise(putMany(workspaces.flatMap((w) => inputs(w, 20)))))
        const feed = yield* Effect.promise(() => runtime.runPromise(DocumentChanges.DocumentChanges))

        // One cycle: a stream from "beginning" or "now", with or without a workspace filter, stopped in
        // one of four ways: by Stream.take; interrupted after a few events; interrupted at once (its first
        // query may be in flight); interrupted while live (waiting on the shared tail).
        const cycle = (i: number) =>
          Effect.gen(function*() {
            const from = i % 2 === 0 ? "beginning" : "now"
            const request = Math.floor(i / 2) % 2 === 0 ? { from } : { from, workspaceId: workspaces[i % 2]! }
            const wanted = from === "beginning" ? 3 : 1
            const stream = feed.stream(request)
            switch (Math.floor(i / 4) % 4) {
              case 0: {
                const events = yield* stream.pipe(Stream.take(wanted), Stream.runCollect)
                expect(Chunk.size(events)).toBe(wanted)
                return
              }
              case 1:
              case 3: {
                const seen = yield* Deferred.make<void>()
                let count = 0
                const fiber = yield* stream.pipe(
                  Stream.tap((event) => {
                    count++
                    const enough = Math.floor(i / 4) % 4 === 1 ? count >= wanted : event._tag === "CaughtUp"
                    return enough ? Deferred.succeed(seen, undefined) : Effect.void
                  }),
                  Stream.runDrain,
                  Effect.fork
                )
                yield* Deferred.await(seen)
                yield* Fiber.interrupt(fiber)
                return
              }
              case 2: {
                const fiber = yield* Effect.fork(Stream.runDrain(stream))
                yield* Effect.yieldNow()
                yield* Fiber.interrupt(fiber)
                return
              }
            }
          })

        // Warm-up (pool connections, compiled code), then the baselines.
        yield* Effect.promise(() => runtime.runPromise(Effect.forEach(Array.from({ length: 200 }, (_, i) => i), cycle)))
        const connectionsBefore = yield* Effect.promise(() => connections(url))
        const heapBefore = heapUsed()
        const started = Date.now()
        yield* Effect.promise(() => runtime.runPromise(Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), cycle)))
        const millis = Date.now() - started
        const heapAfter = heapUsed()
        const connectionsAfter = yield* Effect.promise(() => connections(url))

        // No subscriber is left: the shared poller stops reading once the last one is gone.
        yield* eventually(
          Effect.promise(async () => {
            const before = await feedReads(url)
            // A poller with a live subscriber reads every 100 ms; over 500 ms it would read about 5 times.
            await new Promise((resolve) => setTimeout(resolve, 500))
            return (await feedReads(url)) === before
          }),
          "the shared poller is idle"
        )
        console.log(
          `1,000 stream cycles in ${(millis / 1000).toFixed(1)} s; connections ${connectionsBefore} -> ${connectionsAfter}; ` +
            `heap ${megabytes(heapBefore)} -> ${megabytes(heapAfter)} (${megabytes(heapAfter - heapBefore)})`
        )
        yield* connectionsBackAt(url, connectionsBefore, connectionsAfter)
        // Tolerance 3 MB over 1,000 cycles (3 KB a cycle): a leaked subscription (its queue, fiber and scope,
        // holding every batch published since) per cycle would exceed it.
        expect(heapAfter - heapBefore).toBeLessThan(3 * 1024 * 1024)

        yield* Effect.promise(() => runtime.dispose())
        yield* eventually(Effect.promise(async () => (await connections(url)) === 0), "every connection is closed")
      }),
    { timeout: 120_000 }
  )

  it.live(
    "1,000 cycles of starting and interrupting durable consumers release every lease and leave the connection count " +
      "and the heap at their baselines",
    () =>
      Effect.gen(function*() {
        const { runtime, url } = yield* Effect.promise(() => store())
        const workspaceId = randomUUID()
        yield* Effect.promise(() => runtime.runPromise(putMany(inputs(workspaceId, 10))))
        const feed = yield* Effect.promise(() => runtime.runPromise(DocumentChanges.DocumentChanges))

        // One cycle, on one of ten reused names (a lease left behind would make the next cycle on that
        // name wait for it): interrupted while its handler runs, after a handled batch, or at once.
        const cycle = (i: number) =>
          Effect.gen(function*() {
            const handling = yield* Deferred.make<void>()
            const mode = i % 3
            const fiber = yield* feed.consume({
              name: mode === 0 ? `blocked-${i % 10}` : `consumer-${i % 10}`,
              workspaceId,
              maxBatch: 2,
              handler: () => Effect.zipRight(Deferred.succeed(handling, undefined), mode === 0 ? Effect.never : Effect.void)
            }).pipe(Effect.fork)
            if (mode === 0) yield* Deferred.await(handling)
            else if (mode === 1) yield* Effect.race(Deferred.await(handling), Effect.sleep(Duration.millis(5)))
            else yield* Effect.yieldNow()
            yield* Fiber.interrupt(fiber)
          })

        const held = () =>
          withClient(url, async (client) =>
            Number((await client.query(`SELECT count(*)::int AS n FROM document_consumers WHERE owner IS NOT NULL`)).rows[0].n))

        yield* Effect.promise(() => runtime.runPromise(Effect.forEach(Array.from({ length: 30 }, (_, i) => i), cycle)))
        const connectionsBefore = yield* Effect.promise(() => connections(url))
        const heapBefore = heapUsed()
        const started = Date.now()
        yield* Effect.promise(() =>
          runtime.runPromise(Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), cycle).pipe(
            Effect.timeoutFail({
              duration: Duration.seconds(40),
              onTimeout: () => new Error("consumer cycles stalled: a lease was probably left behind")
            })
          ))
        )
        const millis = Date.now() - started
        const heapAfter = heapUsed()
        const connectionsAfter = yield* Effect.promise(() => connections(url))
        const leases = yield* Effect.promise(held)
        console.log(
          `1,000 consumer cycles in ${(millis / 1000).toFixed(1)} s; connections ${connectionsBefore} -> ${connectionsAfter}; ` +
            `heap ${megabytes(heapBefore)} -> ${megabytes(heapAfter)} (${megabytes(heapAfter - heapBefore)}); leases held: ${leases}`
        )
        expect(leases).toBe(0)
        yield* connectionsBackAt(url, connectionsBefore, connectionsAfter)
        expect(heapAfter - heapBefore).toBeLessThan(3 * 1024 * 1024)

        yield* Effect.promise(() => runtime.dispose())
        yield* eventually(Effect.promise(async () => (await connections(url)) === 0), "every connection is closed")
      }),
    { timeout: 120_000 }
  )

  it.live(
    "a subscriber that stops pulling while 40,000 changes are written keeps memory bounded, " +
      "then gets every change exactly once, in order, in chunks of at most one batch",
    () =>
      Effect.gen(function*() {
        const subscriberBuffer = 4
        const batchSize = 1000
        const { runtime, url } = yield* Effect.promise(() => store({ subscriberBuffer, batchSize }))
        const [mine, other] = [randomUUID(), randomUUID()]
        const feed = yield* Effect.promise(() => runtime.runPromise(DocumentChanges.DocumentChanges))
        const start = yield* Effect.promise(() => runtime.runPromise(feed.currentCursor))

        // Two stalled subscribers, one unfiltered and one filtered: each takes its CaughtUp, then blocks on
        // the next element until the gate opens, so nothing pulls from the feed meanwhile.
        const gate = yield* Deferred.make<void>()
        let sentinel: string | undefined
        const subscriber = (workspaceId: string | undefined, stalled = true) =>
          Effect.gen(function*() {
            const live = yield* Deferred.make<void>()
            const keys: Array<string> = []
            let largestChunk = 0
            const fiber = yield* feed.stream({ from: start, ...(workspaceId ? { workspaceId } : {}) }).pipe(
              Stream.mapChunks((chunk) => {
                largestChunk = Math.max(largestChunk, Chunk.size(chunk))
                return chunk
              }),
              Stream.tap((event) => event._tag === "CaughtUp" ? Deferred.succeed(live, undefined) : stalled ? Deferred.await(gate) : Effect.void),
              untilSentinel(() => sentinel),
              Stream.filterMap((event) => event._tag === "Change" ? Option.some(event.change) : Option.none()),
              Stream.tap((change) => Effect.sync(() => keys.push(`${change.txId}:${change.id}`))),
              Stream.runDrain,
              Effect.fork
            )
            yield* Deferred.await(live)
            return { fiber, keys, largestChunk: () => largestChunk }
          })
        const all = yield* subscriber(undefined)
        const filtered = yield* subscriber(mine)
        // A third one keeps up: it shows when the shared poller has read and published the last change.
        const probe = yield* subscriber(mine, false)

        const heapBefore = heapUsed()
        // 20,000 documents (40,000 changes) in 40 bulk writes, two workspaces interleaved.
        const written = Date.now()
        for (let i = 0; i < 40; i++) {
          yield* Effect.promise(() => runtime.runPromise(putMany(inputs(i % 2 === 0 ? mine : other, 500))))
        }
        // The sentinel, last: the subscribers stop after it.
        const last = yield* Effect.promise(() => runtime.runPromise(putMany(inputs(mine, 1))))
        sentinel = last[0]!.documentId
        yield* Fiber.join(probe.fiber)
        const heapStalled = heapUsed()
        const writeMillis = Date.now() - written

        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(all.fiber)
        yield* Fiber.join(filtered.fiber)

        const expected = (workspaceId?: string) =>
          withClient(url, async (client) =>
            (await client.query(
              `SELECT tx_id::text || ':' || id::text AS key FROM document_changes
               WHERE ($1::uuid IS NULL OR workspace_id = $1) ORDER BY tx_id, id`,
              [workspaceId ?? null]
            )).rows.map((row) => row.key as string))
        const expectedAll = yield* Effect.promise(() => expected())
        const expectedMine = yield* Effect.promise(() => expected(mine))
        expect(expectedAll).toHaveLength(40_002)
        expect(all.keys).toEqual(expectedAll)
        expect(filtered.keys).toEqual(expectedMine)

        console.log(
          `slow subscribers: 40,002 changes written in ${(writeMillis / 1000).toFixed(1)} s while 2 subscribers stalled; ` +
            `heap ${megabytes(heapBefore)} -> ${megabytes(heapStalled)} (${megabytes(heapStalled - heapBefore)}); ` +
            `largest chunk after resuming: ${all.largestChunk()} / ${filtered.largestChunk()} events`
        )
        // The stalled subscribers hold at most `subscriberBuffer` batches of at most `batchSize` changes (4,000
        // changes, shared between them). Holding every change costs about 450 bytes each (60,000 took 27 MB,
        // measured with a buffer of 64): 18 MB for these 40,000.
        expect(heapStalled - heapBefore).toBeLessThan(8 * 1024 * 1024)
        // What it dropped, it re-reads one batch at a time: resuming does not load the whole gap at once.
        expect(all.largestChunk()).toBeLessThanOrEqual(batchSize + 1)
        expect(filtered.largestChunk()).toBeLessThanOrEqual(batchSize + 1)
        yield* Effect.promise(() => runtime.dispose())
      }),
    { timeout: 120_000 }
  )
})
