import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import pg from "pg"
import { Change } from "../src/Change.js"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import { DatabaseError } from "../src/Errors.js"
import * as Cursor from "../src/internal/cursor.js"
import * as Embedded from "../src/internal/embedded.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, withClient } from "./support/Database.js"
import { untilSentinel } from "./support/sentinel.js"

const run = promisify(execFile)

const storeLayer = (url: string, options: DocumentChanges.Options = {}) =>
  Layer.mergeAll(Documents.layer, DocumentChanges.layer(options)).pipe(
    Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 20 }))
  )

/** A migrated database of its own and a runtime holding the store's layers on it. */
const store = async (options: DocumentChanges.Options = {}) => {
  const url = await createDatabase("feed")
  const runtime = ManagedRuntime.make(storeLayer(url, options))
  await runtime.runPromise(Migrations.run())
  return { url, runtime }
}

const version = () => ({ storageKey: `k/${randomUUID()}`, byteSize: 1 })

const putInput = (workspaceId: string, name = `${randomUUID()}.txt`) =>
  Effect.flatMap(Documents.Documents, (documents) => documents.put({ kind: "input", workspaceId, name, version: version() }))

/** Collects the changes of a stream until (and including) the version_added of `stopAt`'s document. */
const collectUntilDocument = (
  stream: Stream.Stream<DocumentChanges.FeedEvent, unknown>,
  stopAt: () => string | undefined
) =>
  stream.pipe(
    untilSentinel(stopAt),
    Stream.filterMap((event) => event._tag === "Change" ? Option.some(event.change) : Option.none()),
    Stream.runCollect,
    Effect.map((changes) => {
      const all = Chunk.toReadonlyArray(changes)
      return all.slice(0, all.findIndex((change) => change.documentId === stopAt() && change.op === "version_added") + 1)
    })
  )

/** The Change events (with their cursors) up to the last change of document `last`. */
const collectCursors = (stream: Stream.Stream<DocumentChanges.FeedEvent, unknown>, last: string) =>
  stream.pipe(
    Stream.filterMap((event) => event._tag === "Change" ? Option.some(event) : Option.none()),
    Stream.takeUntil(({ change }) => change.documentId === last && change.op === "version_added"),
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray)
  )

const key = (change: Change) => `${change.txId}:${change.id}`

const expectFeedOrder = (changes: ReadonlyArray<Change>) => {
  for (let i = 1; i < changes.length; i++) {
    const [a, b] = [changes[i - 1]!, changes[i]!]
    expect(a.txId < b.txId || (a.txId === b.txId && a.id < b.id)).toBe(true)
  }
}

const committedChanges = (url: string, workspaceId: string) =>
  withClient(url, async (client) =>
    (await client.query(
      `SELECT tx_id::text AS tx, id::text AS position FROM document_changes WHERE workspace_id = $1 ORDER BY tx_id, id`,
      [workspaceId]
    )).rows.map((row) => `${row.tx}:${row.position}`))

describe("DocumentChanges", () => {
  it.live("delivers every committed change exactly once, in (tx_id, id) order, under concurrent writers", () =>
    Effect.gen(function*() {
      const { runtime, url } = yield* Effect.promise(() => store())
      const workspaceId = randomUUID()
      const feed = yield* Effect.promise(() => runtime.runPromise(DocumentChanges.DocumentChanges))
      const start = yield* Effect.promise(() => runtime.runPromise(feed.currentCursor))
      let sentinel: string | undefined
      const readers = yield* Effect.forEach(
        Array.from({ length: 4 }),
        () => Effect.fork(Effect.promise(() =>
          runtime.runPromise(collectUntilDocument(feed.stream({ from: start, workspaceId }), () => sentinel))
        ))
      )

      // The deliberately naive reader: id > last seen id. It skips rows whose transaction commits late.
      const naiveSeen = new Set<string>()
      let writing = true
      const naive = Effect.promise(async () => {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        let last = 0n
        while (writing) {
          const { rows } = await client.query(
            `SELECT id::text, tx_id::text AS tx FROM document_changes WHERE id > $1 AND workspace_id = $2 ORDER BY id LIMIT 1000`,
            [String(last), workspaceId]
          )
          for (const row of rows) {
            naiveSeen.add(`${row.tx}:${row.id}`)
            last = BigInt(row.id)
          }
          await new Promise((resolve) => setImmediate(resolve))
        }
        await client.end()
      })
      const naiveFiber = yield* Effect.fork(naive)

      // 8 writers, transactions of 1 to 6 documents (2 changes each) that sleep inside and roll back one in five.
      let committed = 0
      let rolledBack = 0
      const writer = Effect.promise(async () => {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        while (committed < 20_000) {
          await client.query("BEGIN")
          const documents = 1 + Math.floor(Math.random() * 6)
          for (let i = 0; i < documents; i++) {
            const id = randomUUID()
            await client.query(
              `INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', $3, $3)`,
              [id, workspaceId, `doc-${id}`]
            )
            await client.query(
              `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size) VALUES ($1, $2, 1, 'k', 1)`,
              [randomUUID(), id]
            )
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 4))
          }
          if (Math.random() < 0.2) {
            await client.query("ROLLBACK")
            rolledBack += documents * 2
          } else {
            await client.query("COMMIT")
            committed += documents * 2
          }
        }
        await client.end()
      })
      yield* Effect.all(Array.from({ length: 8 }, () => writer), { concurrency: "unbounded" })
      writing = false
      yield* Fiber.join(naiveFiber)

      // Every writer has finished: a document written now comes after all of them in feed order.
      const last = yield* Effect.promise(() => runtime.runPromise(putInput(workspaceId, "sentinel.txt")))
      sentinel = last.document.id
      const expected = yield* Effect.promise(() => committedChanges(url, workspaceId))
      expect(expected.length).toBeGreaterThanOrEqual(20_000 + 2)
      expect(rolledBack).toBeGreaterThan(0)
      for (const reader of readers) {
        const changes = yield* Fiber.join(reader)
        expectFeedOrder(changes)
        expect(changes.map(key)).toEqual(expected)
      }
      // The naive reader missed changes whose transaction committed after a later id was visible.
      const missed = expected.filter((change) => !naiveSeen.has(change))
      expect(missed.length).toBeGreaterThan(0)
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 180_000 })

  it.live("resumes from the cursor of every position with exactly the remainder", () =>
    Effect.gen(function*() {
      const { runtime } = yield* Effect.promise(() => store())
      const workspaceId = randomUUID()
      const otherWorkspace = randomUUID()
      const program = Effect.gen(function*() {
        const feed = yield* DocumentChanges.DocumentChanges
        const start = yield* feed.currentCursor
        for (let i = 0; i < 40; i++) {
          yield* putInput(i % 4 === 0 ? otherWorkspace : workspaceId, `doc-${i % 7}.txt`)
        }
        const last = yield* putInput(workspaceId, "last.txt")
        const recorded = yield* collectCursors(feed.stream({ from: start, workspaceId }), last.document.id)
        expect(recorded.length).toBeGreaterThan(30)
        expect(recorded.every(({ change }) => change.workspaceId === workspaceId)).toBe(true)
        for (let i = 0; i < recorded.length - 1; i++) {
          const rest = yield* collectCursors(feed.stream({ from: recorded[i]!.cursor, workspaceId }), last.document.id)
          expect(rest.map(({ change }) => key(change))).toEqual(recorded.slice(i + 1).map(({ change }) => key(change)))
        }
        // After the very last change: nothing, until something new commits.
        const after = yield* feed.stream({ from: recorded.at(-1)!.cursor, workspaceId }).pipe(
          Stream.takeUntil((event) => event._tag === "CaughtUp"),
          Stream.runCollect
        )
        expect(Chunk.toReadonlyArray(after).map((event) => event._tag)).toEqual(["CaughtUp"])
      })
      yield* Effect.promise(() => runtime.runPromise(program))
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 120_000 })

  it.live("yields each change as a bare pg client reads its row, in an event equal to FeedEvent.Change with its cursor", () =>
    Effect.gen(function*() {
      const { runtime, url } = yield* Effect.promise(() => store())
      const workspaceId = randomUUID()
      // changed_at is read as milliseconds, not as text: the microseconds must round as pg's own parser rounds them.
      const instants = [
        "2026-03-01 10:00:00.999999+00", "2026-03-01 10:00:00.0005+00", "1969-12-31 23:59:59.999500+00",
        "1900-01-01 00:00:00+00", "2000-02-29 12:34:56.123456+05:30", "now"
      ]
      const [rows, epoch] = yield* Effect.promise(() =>
        withClient(url, async (client) => {
          for (const [i, at] of instants.entries()) {
            await client.query(
              `INSERT INTO document_changes (workspace_id, document_id, kind, op, version_no, changed_at)
               VALUES ($1, gen_random_uuid(), 'log', $2, $3, $4::timestamptz)`,
              [workspaceId, i % 2 === 0 ? "created" : "version_added", i % 2 === 0 ? null : i, at]
            )
          }
          const { rows } = await client.query(
            `SELECT id, tx_id::text AS "txId", workspace_id AS "workspaceId", document_id AS "documentId", kind, op,
                    version_no AS "versionNo", changed_at AS "changedAt"
             FROM document_changes WHERE workspace_id = $1 ORDER BY tx_id, id`,
            [workspaceId]
          )
          return [rows, (await client.query(`SELECT epoch FROM document_feed`)).rows[0].epoch as string] as const
        })
      )
      const events = yield* Effect.promise(() =>
        runtime.runPromise(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
          feed.stream({ from: "beginning", workspaceId }).pipe(
            Stream.takeWhile((event) => event._tag !== "CaughtUp"),
            Stream.runCollect,
            Effect.map(Chunk.toReadonlyArray)
          )))
      )
      expect(events.length).toBe(instants.length)
      for (const [i, event] of events.entries()) {
        const row = rows[i]!
        const change = Schema.decodeUnknownSync(Change)({ ...row, id: BigInt(row.id) })
        const eager = DocumentChanges.FeedEvent.Change({
          change,
          cursor: Cursor.encode({ epoch, txId: change.txId, id: change.id })
        })
        expect(event._tag === "Change" && event.change).toStrictEqual(change)
        expect(event._tag === "Change" && event.change.changedAt.getTime()).toBe(row.changedAt.getTime())
        // Before and after its cursor is read: the same keys in the same order, equal, spread alike.
        expect(Object.keys(event)).toEqual(Object.keys(eager))
        expect(Equal.equals(event, eager)).toBe(true)
        expect({ ...event }).toStrictEqual({ ...eager })
        expect(Object.getPrototypeOf(event)).toBe(Object.getPrototypeOf(eager))
        expect(Object.getOwnPropertyDescriptor(event, "cursor")).toEqual(Object.getOwnPropertyDescriptor(eager, "cursor"))
      }
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 60_000 })

  it.live("fails with InvalidCursor for garbage and tampered cursors, CursorExpired after prune and an epoch change", () =>
    Effect.gen(function*() {
      const { runtime, url } = yield* Effect.promise(() => store())
      const workspaceId = randomUUID()
      const program = Effect.gen(function*() {
        const feed = yield* DocumentChanges.DocumentChanges
        const start = yield* feed.currentCursor
        yield* putInput(workspaceId)
        const first = (from: string) => feed.stream({ from, workspaceId }).pipe(Stream.runHead, Effect.flip)
        const valid = yield* feed.currentCursor
        const tampered = valid.slice(0, 10) + (valid[10] === "A" ? "B" : "A") + valid.slice(11)
        for (const garbage of ["", "garbage", "!!!!", valid.slice(0, -2), valid + "A", tampered, Buffer.from("x".repeat(37)).toString("base64url")]) {
          const error = yield* first(garbage)
          expect(error._tag).toBe(garbage === "" ? "InvalidCursor" : "InvalidCursor")
        }
        const pruned = yield* feed.prune({ olderThan: Duration.zero })
        expect(pruned.deleted).toBeGreaterThan(0)
        expect(yield* first(start)).toMatchObject({ _tag: "CursorExpired", reason: "retention" })
        // The beginning of a pruned feed is its horizon, not an error.
        yield* putInput(workspaceId)
        const fromBeginning = yield* feed.stream({ from: "beginning", workspaceId }).pipe(
          Stream.takeWhile((event) => event._tag !== "CaughtUp"),
          Stream.runCollect
        )
        expect(Chunk.size(fromBeginning)).toBe(2)
        const beforeEpoch = yield* feed.currentCursor
        yield* Effect.promise(() => withClient(url, (client) => client.query(`UPDATE document_feed SET epoch = gen_random_uuid()`)))
        expect(yield* first(beforeEpoch)).toMatchObject({ _tag: "CursorExpired", reason: "epoch" })
      })
      yield* Effect.promise(() => runtime.runPromise(program))
      yield* Effect.promise(() => runtime.dispose())
    }))

  // Found by the soak's slow transactions (soak/soak.ts): prune cut at the newest old change, and a
  // transaction that began long ago but wrote just now has old changes at a new position.
  it.live("prune deletes no change younger than its age, also below a transaction that began before it", () =>
    Effect.gen(function*() {
      const { runtime, url } = yield* Effect.promise(() => store())
      const workspaceId = randomUUID()
      const slow = new pg.Client({ connectionString: url })
      yield* Effect.promise(() => slow.connect())
      const program = Effect.gen(function*() {
        const feed = yield* DocumentChanges.DocumentChanges
        yield* putInput(workspaceId, "old.txt")
        // The slow transaction begins (its changes will carry this moment) and writes only later.
        yield* Effect.promise(() => slow.query("BEGIN"))
        yield* Effect.promise(() => slow.query("SELECT 1"))
        // Real time must pass: the age is what is under test.
        yield* Effect.sleep(Duration.millis(1500))
        yield* putInput(workspaceId, "young.txt")
        const id = randomUUID()
        yield* Effect.promise(async () => {
          await slow.query(`INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', 'slow', 'slow')`, [id, workspaceId])
          await slow.query(`INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size) VALUES ($1, $2, 1, 'k', 1)`, [randomUUID(), id])
          await slow.query("COMMIT")
        })
        const pruned = yield* feed.prune({ olderThan: Duration.seconds(1) })
        const kept = yield* Effect.promise(() =>
          withClient(url, async (client) =>
            (await client.query(
              `SELECT f.name, c.op FROM document_changes c JOIN files f ON f.id = c.document_id ORDER BY c.tx_id, c.id`
            )).rows.map((row) => `${row.name}:${row.op}`))
        )
        // Only old.txt's changes went; young.txt's (and the slow transaction's, behind them) stay.
        expect(pruned.deleted).toBe(2)
        expect(kept).toEqual(["young.txt:created", "young.txt:version_added", "slow:created", "slow:version_added"])
      })
      yield* Effect.promise(() => runtime.runPromise(program))
      yield* Effect.promise(() => slow.end())
      yield* Effect.promise(() => runtime.dispose())
    }))

  it.live("list then watch misses nothing while writers run", () =>
    Effect.gen(function*() {
      const { runtime } = yield* Effect.promise(() => store())
      const workspaceId = randomUUID()
      const program = Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const feed = yield* DocumentChanges.DocumentChanges
        for (let i = 0; i < 30; i++) yield* putInput(workspaceId)
        let stop = false
        const writers = yield* Effect.fork(Effect.all(
          Array.from({ length: 4 }, () =>
            Effect.gen(function*() {
              while (!stop) yield* putInput(workspaceId)
            })),
          { concurrency: "unbounded" }
        ))
        // List every page (keeping the first page's cursor) while the writers run.
        const listed = new Set<string>()
        let cursor: string | undefined
        let pageToken: string | undefined
        do {
          const page: Documents.Page = yield* documents.list({ workspaceId, limit: 7, ...(pageToken ? { pageToken } : {}) })
          cursor ??= page.cursor
          page.documents.forEach((document) => listed.add(document.id))
          pageToken = page.nextPageToken ?? undefined
        } while (pageToken)
        stop = true
        yield* Fiber.join(writers)
        const last = yield* putInput(workspaceId, "last.txt")
        const streamed = yield* collectUntilDocument(feed.stream({ from: cursor!, workspaceId }), () => last.document.id)
        const seen = new Set([...listed, ...streamed.map((change) => change.documentId)])
        const all = yield* documents.list({ workspaceId, limit: 1000 })
        expect(all.documents.length).toBeGreaterThan(30)
        for (const document of all.documents) expect(seen.has(document.id)).toBe(true)
      })
      yield* Effect.promise(() => runtime.runPromise(program))
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 120_000 })

  it.live("shares one poller among 1,000 live subscribers, and every subscriber gets every change", () =>
    Effect.gen(function*() {
      const { runtime, url } = yield* Effect.promise(() => store({ pollInterval: Duration.millis(100) }))
      const workspaceId = randomUUID()
      yield* Effect.promise(() => withClient(url, (client) => client.query(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)))
      const feedQueries = () =>
        withClient(url, async (client) =>
          Number((await client.query(
            `SELECT coalesce(sum(calls), 0)::text AS calls FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND query LIKE '%FROM document_feed f%CROSS JOIN LATERAL%'`
          )).rows[0].calls))
      // Feed queries per second while `count` subscribers are live and idle.
      const rateWith = (count: number) =>
        Effect.gen(function*() {
          const feed = yield* DocumentChanges.DocumentChanges
          const caughtUp = yield* Ref.make(0)
          const received = yield* Ref.make(0)
          let sentinel: string | undefined
          const start = yield* feed.currentCursor
          const fibers = yield* Effect.forEach(Array.from({ length: count }), () =>
            feed.stream({ from: start, workspaceId }).pipe(
              Stream.tap((event) => event._tag === "CaughtUp" ? Ref.update(caughtUp, (n) => n + 1) : Effect.void),
              untilSentinel(() => sentinel),
              Stream.filter((event) => event._tag === "Change"),
              Stream.tap(() => Ref.update(received, (n) => n + 1)),
              Stream.runDrain,
              Effect.fork
            ))
          while ((yield* Ref.get(caughtUp)) < count) yield* Effect.sleep(Duration.millis(20))
          const before = yield* Effect.promise(feedQueries)
          const started = Date.now()
          yield* Effect.sleep(Duration.seconds(2))
          const rate = ((yield* Effect.promise(feedQueries)) - before) / ((Date.now() - started) / 1000)
          // Then every subscriber must receive a burst of changes, the sentinel last.
          for (let i = 0; i < 5; i++) yield* putInput(workspaceId)
          sentinel = (yield* putInput(workspaceId)).document.id
          yield* Effect.forEach(fibers, Fiber.join)
          expect(yield* Ref.get(received)).toBe(count * 12)
          return rate
        })
      const [one, thousand] = yield* Effect.promise(() =>
        runtime.runPromise(Effect.all([rateWith(1), rateWith(1000)]))
      )
      expect(one).toBeGreaterThan(0)
      expect(thousand / one).toBeLessThanOrEqual(1.1)
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 120_000 })

  it.live("resumes without loss or duplicates after its connections are killed and the server restarts", () =>
    Effect.gen(function*() {
      // A server of its own: this test stops and starts it.
      const directory = yield* Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "docstore-restart-")))
      const server = yield* Effect.promise(() => Embedded.ensure(directory, { database: "docstore" }))
      const runtime = ManagedRuntime.make(storeLayer(server.url))
      yield* Effect.promise(() => runtime.runPromise(Migrations.run()))
      const workspaceId = randomUUID()
      const feed = yield* Effect.promise(() => runtime.runPromise(DocumentChanges.DocumentChanges))
      const start = yield* Effect.promise(() => runtime.runPromise(feed.currentCursor))
      let sentinel: string | undefined
      const reader = yield* Effect.fork(Effect.promise(() =>
        runtime.runPromise(collectUntilDocument(feed.stream({ from: start, workspaceId }), () => sentinel))
      ))
      const write = (n: number) => Effect.promise(() => runtime.runPromise(Effect.forEach(Array.from({ length: n }), () => putInput(workspaceId))))
      // Waits until the backends are gone: a put right after must not pick a pooled connection whose
      // backend is still terminating (the puts do not retry; the reader must).
      const killConnections = Effect.promise(() =>
        withClient(server.url, (client) =>
          client.query(`SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
                        WHERE application_name LIKE 'effect-docstore%' AND pid <> pg_backend_pid()`))
      )
      for (let round = 0; round < 3; round++) {
        yield* write(10)
        yield* killConnections
      }
      yield* write(10)
      yield* Effect.promise(() => Embedded.stop(directory))
      yield* Effect.promise(() => Embedded.ensure(directory, { database: "docstore" }))
      // A put during the outage fails with a typed DatabaseError (it does not retry); write after the restart.
      yield* write(10)
      sentinel = (yield* Effect.promise(() => runtime.runPromise(putInput(workspaceId)))).document.id
      const changes = yield* Fiber.join(reader)
      const expected = yield* Effect.promise(() => committedChanges(server.url, workspaceId))
      expectFeedOrder(changes)
      expect(changes.map(key)).toEqual(expected)
      expect(expected.length).toBe(51 * 2)
      yield* Effect.promise(() => runtime.dispose())
      yield* Effect.promise(() => Embedded.stop(directory))
      yield* Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
    }), { timeout: 120_000 })

  it.live("reports a transaction that holds the horizon back, and delivers everything once it ends", () =>
    Effect.gen(function*() {
      const { runtime, url } = yield* Effect.promise(() =>
        store({ heartbeatInterval: Duration.millis(200), stallThreshold: Duration.millis(100) })
      )
      const workspaceId = randomUUID()
      const holder = new pg.Client({ connectionString: url, application_name: "long-report" })
      yield* Effect.promise(() => holder.connect())
      const holderPid = (yield* Effect.promise(() => holder.query(`SELECT pg_backend_pid() AS pid`))).rows[0].pid
      const program = Effect.gen(function*() {
        const feed = yield* DocumentChanges.DocumentChanges
        const start = yield* feed.currentCursor
        const events = yield* Ref.make<ReadonlyArray<DocumentChanges.FeedEvent>>([])
        let sentinel: string | undefined
        const reader = yield* feed.stream({ from: start, workspaceId }).pipe(
          Stream.tap((event) => Ref.update(events, (all) => [...all, event])),
          Stream.takeUntil((event) =>
            event._tag === "Change" && event.change.documentId === sentinel && event.change.op === "version_added"
          ),
          Stream.runDrain,
          Effect.fork
        )
        // The holder writes (so it has a transaction id) and stays open.
        yield* Effect.promise(() => holder.query("BEGIN"))
        yield* Effect.promise(() =>
          holder.query(`INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', 'held', 'held')`, [
            randomUUID(),
            workspaceId
          ]))
        const blocked = yield* putInput(workspaceId)
        sentinel = blocked.document.id
        const stalled = (all: ReadonlyArray<DocumentChanges.FeedEvent>) =>
          all.find((event) => event._tag === "Heartbeat" && event.stall?.pid === holderPid)
        while (!stalled(yield* Ref.get(events))) yield* Effect.sleep(Duration.millis(50))
        const heartbeat = stalled(yield* Ref.get(events)) as { stall: DocumentChanges.Stall }
        expect(heartbeat.stall).toMatchObject({ pid: holderPid, applicationName: "long-report" })
        expect(heartbeat.stall.ageSeconds).toBeGreaterThan(0)
        // Committed but not delivered: it lies beyond the horizon the holder keeps.
        expect((yield* Ref.get(events)).filter((event) => event._tag === "Change")).toEqual([])
        yield* Effect.promise(() => holder.query("COMMIT"))
        yield* Fiber.join(reader)
        const changes = (yield* Ref.get(events)).filter((event) => event._tag === "Change")
        expect(changes).toHaveLength(3)
      })
      yield* Effect.promise(() => runtime.runPromise(program))
      yield* Effect.promise(() => holder.end())
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 60_000 })

  describe("durable consumers", () => {
    it.live("fail with DatabaseError on a read-only server (a standby) instead of waiting for it forever", () =>
      Effect.gen(function*() {
        const { runtime, url } = yield* Effect.promise(() => store())
        const database = new URL(url).pathname.slice(1)
        // New sessions of this database are read-only, as on a hot standby (bench/standby.ts checks a real one).
        yield* Effect.promise(() => withClient(url, (client) => client.query(`ALTER DATABASE "${database}" SET default_transaction_read_only = on`)))
        const readOnly = ManagedRuntime.make(storeLayer(url, {}))
        const program = Effect.gen(function*() {
          const feed = yield* DocumentChanges.DocumentChanges
          const error = yield* Effect.flip(feed.consume({ name: "on-a-standby", handler: () => Effect.void }))
          expect(error._tag).toBe("DatabaseError")
          expect(error.message).toMatch(/read-only .*run consumers against the primary/)
        })
        yield* Effect.promise(() => readOnly.runPromise(program.pipe(Effect.timeout(Duration.seconds(20)))))
        yield* Effect.promise(() => readOnly.dispose())
        yield* Effect.promise(() => runtime.dispose())
      }))

    it.live("retry a failing handler from the last checkpoint and store the checkpoint after success", () =>
      Effect.gen(function*() {
        const { runtime, url } = yield* Effect.promise(() => store())
        const workspaceId = randomUUID()
        const program = Effect.gen(function*() {
          const feed = yield* DocumentChanges.DocumentChanges
          const ids: Array<string> = []
          for (let i = 0; i < 20; i++) ids.push((yield* putInput(workspaceId)).document.id)
          const poison = ids[10]!
          let failures = 0
          const handled: Array<string> = []
          const consumer = yield* feed.consume({
            name: "indexer",
            workspaceId,
            maxBatch: 5,
            handler: (changes) =>
              Effect.suspend(() => {
                if (failures === 0 && changes.some((change) => change.documentId === poison)) {
                  failures++
                  // The store's own error, as a handler that writes to it during an outage gets: retried too.
                  return Effect.fail(new DatabaseError({ message: "the store was unavailable" }))
                }
                handled.push(...changes.map((change) => `${change.documentId}:${change.op}`))
                return Effect.void
              })
          }).pipe(Effect.fork)
          while (!handled.includes(`${ids[19]}:version_added`)) yield* Effect.sleep(Duration.millis(20))
          yield* Fiber.interrupt(consumer)
          expect(failures).toBe(1)
          // Every change was handled at least once, in order; nothing after the failure was lost.
          const expected = ids.flatMap((id) => [`${id}:created`, `${id}:version_added`])
          expect([...new Set(handled)]).toEqual(expected)
          const checkpoint = yield* Effect.promise(() =>
            withClient(url, async (client) => (await client.query(`SELECT cursor, owner FROM document_consumers WHERE name = 'indexer'`)).rows[0])
          )
          expect(checkpoint.owner).toBeNull()
          // Restarting from the stored checkpoint yields nothing old.
          const rest = yield* feed.stream({ from: checkpoint.cursor, workspaceId }).pipe(
            Stream.takeWhile((event) => event._tag !== "CaughtUp"),
            Stream.runCollect
          )
          expect(Chunk.size(rest)).toBe(0)
        })
        yield* Effect.promise(() => runtime.runPromise(program))
        yield* Effect.promise(() => runtime.dispose())
      }), { timeout: 60_000 })

    it.live("never let two processes on one consumer name process batches at the same time", () =>
      Effect.gen(function*() {
        const { runtime, url } = yield* Effect.promise(() => store())
        const other = ManagedRuntime.make(storeLayer(url))
        const workspaceId = randomUUID()
        const intervals: Array<{ owner: string; start: number; end: number }> = []
        const handled = new Set<string>()
        const consumer = (owner: string) =>
          Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
            feed.consume({
              name: "exporter",
              workspaceId,
              maxBatch: 3,
              leaseDuration: Duration.seconds(2),
              handler: (changes) =>
                Effect.gen(function*() {
                  const start = performance.now()
                  yield* Effect.sleep(Duration.millis(5))
                  changes.forEach((change) => handled.add(`${change.documentId}:${change.op}`))
                  intervals.push({ owner, start, end: performance.now() })
                })
            }))
        const a = runtime.runFork(consumer("a"))
        const b = other.runFork(consumer("b"))
        const ids: Array<string> = []
        for (let i = 0; i < 30; i++) ids.push((yield* Effect.promise(() => runtime.runPromise(putInput(workspaceId)))).document.id)
        while (!handled.has(`${ids[29]}:version_added`)) yield* Effect.sleep(Duration.millis(20))
        // Stop the holder: the other takes over and continues from the checkpoint.
        const owners = new Set(intervals.map((interval) => interval.owner))
        expect(owners.size).toBe(1)
        const [holder, waiting] = owners.has("a") ? [a, "b"] : [b, "a"]
        yield* Fiber.interrupt(holder)
        for (let i = 0; i < 10; i++) ids.push((yield* Effect.promise(() => runtime.runPromise(putInput(workspaceId)))).document.id)
        while (!handled.has(`${ids[39]}:version_added`)) yield* Effect.sleep(Duration.millis(20))
        expect(intervals.some((interval) => interval.owner === waiting)).toBe(true)
        const sorted = [...intervals].sort((x, y) => x.start - y.start)
        for (let i = 1; i < sorted.length; i++) {
          if (sorted[i]!.owner !== sorted[i - 1]!.owner) expect(sorted[i]!.start).toBeGreaterThanOrEqual(sorted[i - 1]!.end)
        }
        for (const id of ids) expect(handled.has(`${id}:created`) && handled.has(`${id}:version_added`)).toBe(true)
        yield* Fiber.interrupt(waiting === "a" ? a : b)
        yield* Effect.promise(() => other.dispose())
        yield* Effect.promise(() => runtime.dispose())
      }), { timeout: 60_000 })

    // Found while building the soak (soak/soak.ts): a filtered consumer's checkpoint stayed at its last
    // matching change, so after a prune a caught-up consumer got CursorExpired on its next start.
    it.live("keep a filtered consumer's checkpoint moving while other workspaces change, so a caught-up consumer survives prune", () =>
      Effect.gen(function*() {
        const { runtime, url } = yield* Effect.promise(() => store({ heartbeatInterval: Duration.millis(100) }))
        const workspaceId = randomUUID()
        const otherWorkspace = randomUUID()
        const program = Effect.gen(function*() {
          const feed = yield* DocumentChanges.DocumentChanges
          const handled = new Set<string>()
          const consumer = feed.consume({
            name: "quiet-workspace",
            workspaceId,
            handler: (changes) => Effect.sync(() => changes.forEach((change) => handled.add(`${change.documentId}:${change.op}`)))
          })
          const stored = () =>
            withClient(url, async (client) =>
              (await client.query(`SELECT cursor FROM document_consumers WHERE name = 'quiet-workspace'`)).rows[0]?.cursor as string | undefined)
          const first = yield* Effect.fork(consumer)
          const mine = yield* putInput(workspaceId)
          while (!handled.has(`${mine.document.id}:version_added`)) yield* Effect.sleep(Duration.millis(20))
          // Only the other workspace changes from here on: nothing for this consumer's handler.
          for (let i = 0; i < 5; i++) yield* putInput(otherWorkspace)
          const [last] = yield* Effect.promise(() =>
            withClient(url, async (client) =>
              (await client.query(
                `SELECT tx_id::text AS tx, id::text FROM document_changes WHERE workspace_id = $1 ORDER BY tx_id DESC, id DESC LIMIT 1`,
                [otherWorkspace]
              )).rows)
          )
          const otherLast = { txId: BigInt(last.tx), id: BigInt(last.id) }
          // The checkpoint follows the feed (within a few heartbeats), not only the consumer's own changes.
          const caughtUp = yield* Effect.promise(stored).pipe(
            Effect.repeat({
              until: (cursor) => cursor !== undefined && Cursor.compare(Either.getOrThrow(Cursor.decode(cursor)), otherLast) >= 0,
              schedule: Schedule.spaced(Duration.millis(50))
            }),
            Effect.timeoutOption(Duration.seconds(10))
          )
          yield* Fiber.interrupt(first)
          expect(Option.isSome(caughtUp)).toBe(true)
          // Retention removes everything so far; the consumer had missed nothing, so it starts again without a reset.
          const pruned = yield* feed.prune({ olderThan: Duration.zero })
          expect(pruned.deleted).toBeGreaterThanOrEqual(12)
          const second = yield* Effect.fork(consumer)
          const next = yield* putInput(workspaceId)
          while (!handled.has(`${next.document.id}:version_added`) && (yield* Fiber.poll(second))._tag === "None") {
            yield* Effect.sleep(Duration.millis(20))
          }
          expect(yield* Fiber.poll(second)).toEqual(Option.none())
          yield* Fiber.interrupt(second)
        })
        yield* Effect.promise(() => runtime.runPromise(program))
        yield* Effect.promise(() => runtime.dispose())
      }), { timeout: 60_000 })
  })

  it.live("wakes a live subscriber for every commit of concurrent puts, whether the put carried the wake-up or not", () =>
    Effect.gen(function*() {
      // Polling every 30 s: within the test's time only wake-ups deliver, so a commit left without one shows.
      const { runtime } = yield* Effect.promise(() => store({ pollInterval: Duration.seconds(30) }))
      const program = Effect.gen(function*() {
        const feed = yield* DocumentChanges.DocumentChanges
        for (let round = 0; round < 3; round++) {
          const workspaceId = randomUUID()
          const live = yield* Deferred.make<void>()
          const finished = new Set<string>()
          const subscriber = yield* feed.stream({ from: yield* feed.currentCursor, workspaceId }).pipe(
            Stream.tap((event) =>
              Effect.sync(() => {
                if (event._tag === "CaughtUp") Deferred.unsafeDone(live, Effect.void)
                if (event._tag === "Change" && event.change.op === "version_added") finished.add(event.change.documentId)
              })
            ),
            Stream.takeUntil(() => finished.size === 40),
            Stream.runDrain,
            Effect.fork
          )
          yield* Deferred.await(live)
          const written = yield* Effect.forEach(Array.from({ length: 40 }), () => putInput(workspaceId), { concurrency: 8 })
          const started = Date.now()
          yield* Fiber.join(subscriber)
          expect(Date.now() - started).toBeLessThan(15_000)
          expect([...finished].sort()).toEqual(written.map((w) => w.document.id).sort())
        }
      })
      yield* Effect.promise(() => runtime.runPromise(program))
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 60_000 })

  it.live("wakes a live subscriber for writes that cannot carry the wake-up: putMany, delete, a put in the caller's transaction", () =>
    Effect.gen(function*() {
      // Polling every 30 s: these commits carry no pg_notify of their own, so only the NOTIFY sent after them
      // can deliver them in the test's time.
      const { runtime } = yield* Effect.promise(() => store({ pollInterval: Duration.seconds(30) }))
      const program = Effect.gen(function*() {
        const documents = yield* Documents.Documents
        const feed = yield* DocumentChanges.DocumentChanges
        const sql = yield* SqlClient.SqlClient
        const workspaceId = randomUUID()
        const [existing] = yield* documents.putMany([{ kind: "input", workspaceId, name: "to-delete.txt", version: version() }])
        const writes: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
          ["putMany", documents.putMany([{ kind: "input", workspaceId, name: "imported.txt", version: version() }])],
          ["delete", documents.delete({ workspaceId, documentId: existing!.documentId })],
          ["put in a transaction", sql.withTransaction(documents.put({ kind: "input", workspaceId, name: "in-a-transaction.txt", version: version() }))]
        ]
        for (const [label, write] of writes) {
          const live = yield* Deferred.make<void>()
          const subscriber = yield* feed.stream({ from: yield* feed.currentCursor, workspaceId }).pipe(
            Stream.tap((event) => event._tag === "CaughtUp" ? Deferred.succeed(live, undefined) : Effect.void),
            Stream.filter((event) => event._tag === "Change"),
            Stream.runHead,
            Effect.fork
          )
          yield* Deferred.await(live)
          const started = Date.now()
          yield* write
          const event = yield* Fiber.join(subscriber)
          expect([label, Option.isSome(event), Date.now() - started < 15_000]).toEqual([label, true, true])
        }
      })
      yield* Effect.promise(() => runtime.runPromise(program))
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 120_000 })

  it.live("delivers changes written by another process to a live subscriber", () =>
    Effect.gen(function*() {
      const { runtime, url } = yield* Effect.promise(() => store({ pollInterval: Duration.seconds(30) }))
      const workspaceId = randomUUID()
      const feed = yield* Effect.promise(() => runtime.runPromise(DocumentChanges.DocumentChanges))
      const start = yield* Effect.promise(() => runtime.runPromise(feed.currentCursor))
      const first = yield* Effect.fork(Effect.promise(() =>
        runtime.runPromise(feed.stream({ from: start, workspaceId }).pipe(
          Stream.filter((event) => event._tag === "Change"),
          Stream.runHead
        ))
      ))
      // The poll interval is 30 s: only the wake-up from the other process's commit can deliver this in time.
      const started = Date.now()
      yield* Effect.promise(() =>
        run(process.execPath, ["--import", "tsx", "test/support/putProcess.ts", workspaceId], {
          env: { ...process.env, DATABASE_URL: url }
        }))
      const event = yield* Fiber.join(first)
      expect(Option.isSome(event) && event.value._tag === "Change" && event.value.change.workspaceId).toBe(workspaceId)
      expect(Date.now() - started).toBeLessThan(30_000)
      yield* Effect.promise(() => runtime.dispose())
    }), { timeout: 60_000 })
})
