/**
 * Network faults between the library and PostgreSQL, injected by a TCP proxy
 * (support/faultProxy.ts): resets, silence, latency. Each test bounds the
 * call under test, so a hang fails the test instead of stalling the run.
 */
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { inject } from "vitest"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as Migrate from "../src/cli/migrate.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, layer as directLayer, withClient } from "./support/Database.js"
import * as FaultProxy from "./support/faultProxy.js"
import { dataSnapshot, schemaSnapshot } from "./support/introspection.js"
import { alembicSchema, fillBulk, fillMessyData } from "./support/legacy.js"

const run = promisify(execFile)

const migrateProcess = (url: string) =>
  run(process.execPath, ["--import", "tsx", "src/migrate.ts"], {
    env: { ...process.env, DATABASE_URL: url, NODE_ENV: "test" },
    timeout: 30_000
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr })
  )

/** Short timeouts, so a silent server is noticed within the test's budget. */
const statementTimeout = Duration.seconds(1)
const connectTimeout = Duration.seconds(1)

let migrated: Promise<string> | undefined
/** One migrated database for the file; each test writes to workspaces of its own. */
const migratedDatabase = () => {
  migrated ??= createDatabase("faults").then(async (url) => {
    await Effect.runPromise(Migrations.run().pipe(Effect.provide(directLayer(url))))
    return url
  })
  return migrated
}

/** The library's client on `url`, through the proxy, with the short timeouts. */
const proxiedLayer = (proxy: FaultProxy.FaultProxy, url: string) =>
  Database.layer({ url: Redacted.make(proxy.url(url)), statementTimeout, connectTimeout })

/** A proxy in front of the run's server, and the documents service through it. */
const proxiedStore = (url: string) =>
  Effect.gen(function*() {
    const proxy = yield* FaultProxy.scoped(inject("databaseUrl"))
    const context = yield* Layer.build(Documents.layer.pipe(Layer.provideMerge(proxiedLayer(proxy, url))))
    return {
      proxy,
      documents: Context.get(context, Documents.Documents),
      sql: Context.get(context, SqlClient.SqlClient)
    }
  })

/** Fails the test (with a TimeoutException) instead of hanging. */
const bounded = <A, E, R>(effect: Effect.Effect<A, E, R>, seconds = 10) =>
  Effect.exit(Effect.timeout(effect, Duration.seconds(seconds)))

/** Waits for a proxy trigger to fire; fails the test if the proxy never sees its text. */
const seen = <A>(fired: Promise<A>) =>
  Effect.promise(() => fired).pipe(
    Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new Error("the proxy never saw the trigger's text") })
  )

const expectDatabaseError = <A>(exit: Exit.Exit<A, unknown>) => {
  expect(Exit.isFailure(exit)).toBe(true)
  if (Exit.isSuccess(exit)) return ""
  const failure = Cause.failureOption(exit.cause)
  // A typed failure, not a defect, not an interruption, not the test's own timeout.
  expect(Option.map(failure, (error) => (error as { _tag: string })._tag)).toEqual(Option.some("DatabaseError"))
  return (Option.getOrThrow(failure) as { message: string }).message
}

interface Stored {
  readonly files: number
  readonly versions: number
  readonly changes: ReadonlyArray<string>
}

/** What a workspace holds, read directly (not through the proxy). */
const storedIn = (url: string, workspaceId: string): Promise<Stored> =>
  withClient(url, async (client) => {
    const { rows: [counts] } = await client.query(
      `SELECT (SELECT count(*)::int FROM files WHERE workspace_id = $1) AS files,
              (SELECT count(*)::int FROM file_versions v JOIN files f ON f.id = v.file_id
               WHERE f.workspace_id = $1) AS versions`,
      [workspaceId]
    )
    const { rows } = await client.query(
      `SELECT op FROM document_changes WHERE workspace_id = $1 ORDER BY tx_id, id`,
      [workspaceId]
    )
    return { files: counts.files, versions: counts.versions, changes: rows.map((row) => row.op) }
  })

const nothing: Stored = { files: 0, versions: 0, changes: [] }
const oneDocument: Stored = { files: 1, versions: 1, changes: ["created", "version_added"] }
const twoDocuments: Stored = { files: 2, versions: 2, changes: ["created", "version_added", "created", "version_added"] }

const input = (workspaceId: string, name = "report.pdf") => ({
  kind: "input" as const,
  workspaceId,
  name,
  version: { storageKey: `blobs/${randomUUID()}`, byteSize: 1024 }
})

describe("faults", () => {
  describe("a write interrupted by a cut is committed entirely or not at all, and fails with DatabaseError", () => {
    it.scopedLive("cut while the write is on its way (latency on): nothing is stored", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(migratedDatabase)
        const { documents, proxy } = yield* proxiedStore(url)
        const workspaceId = randomUUID()
        yield* documents.put(input(workspaceId, "warm-up.pdf"))
        proxy.setLatency(100)
        // The write's statement has left the library and is 100 ms from the server.
        const inFlight = proxy.when({ direction: "toServer", contains: "INSERT INTO files", action: "none" })
        const put = yield* Effect.fork(bounded(documents.put(input(workspaceId))))
        yield* seen(inFlight)
        proxy.cut()
        const message = expectDatabaseError(yield* Fiber.join(put))
        // The library cannot know how far the statement got, and says so.
        expect(message).toMatch(/may or may not have committed/)
        proxy.setLatency(0)
        expect(yield* Effect.promise(() => storedIn(url, workspaceId))).toEqual(oneDocument)
        // And the store keeps working after the cut, on new connections.
        expect(Exit.isSuccess(yield* bounded(documents.put(input(workspaceId))))).toBe(true)
        expect(yield* Effect.promise(() => storedIn(url, workspaceId))).toEqual(twoDocuments)
      }))

    it.scopedLive("cut after the server committed, before its answer arrives: everything is stored, the error says the outcome is unknown, a retry with the same version id replays it", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(migratedDatabase)
        const { documents, proxy } = yield* proxiedStore(url)
        const workspaceId = randomUUID()
        const request = { ...input(workspaceId), version: { ...input(workspaceId).version, id: randomUUID() } }
        // The answer carries the new version's storage key: it is dropped and the connection reset.
        const fired = proxy.when({ direction: "toClient", contains: request.version.storageKey, action: "cut" })
        const exit = yield* bounded(documents.put(request))
        yield* seen(fired)
        expect(expectDatabaseError(exit)).toMatch(/may or may not have committed/)
        expect(yield* Effect.promise(() => storedIn(url, workspaceId))).toEqual(oneDocument)
        const retried = yield* bounded(documents.put(request))
        expect(Exit.map(retried, (written) => written.replayed)).toEqual(Exit.succeed(true))
        expect(yield* Effect.promise(() => storedIn(url, workspaceId))).toEqual(oneDocument)
      }))

    describe("in a transaction of the caller's", () => {
      it.scopedLive("cut just before COMMIT reaches the server: nothing is stored, a typed SqlError", () =>
        Effect.gen(function*() {
          const url = yield* Effect.promise(migratedDatabase)
          const { documents, proxy, sql } = yield* proxiedStore(url)
          const workspaceId = randomUUID()
          const fired = proxy.when({ direction: "toServer", contains: "COMMIT", action: "cut" })
          const exit = yield* bounded(sql.withTransaction(documents.put(input(workspaceId))))
          yield* seen(fired)
          expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause).pipe(Option.map((e) => e._tag))).toEqual(
            Option.some("SqlError")
          )
          expect(yield* Effect.promise(() => storedIn(url, workspaceId))).toEqual(nothing)
        }))

      it.scopedLive("cut after the server committed: everything is stored, and the SqlError says the outcome is unknown", () =>
        Effect.gen(function*() {
          const url = yield* Effect.promise(migratedDatabase)
          const { documents, proxy, sql } = yield* proxiedStore(url)
          const workspaceId = randomUUID()
          // The server's CommandComplete "COMMIT" is the answer to the COMMIT.
          const fired = proxy.when({ direction: "toClient", contains: "COMMIT", action: "cut" })
          const exit = yield* bounded(sql.withTransaction(documents.put(input(workspaceId))))
          yield* seen(fired)
          expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)).toEqual(
            Option.some(expect.objectContaining({ _tag: "SqlError", message: Database.commitOutcomeUnknown }))
          )
          expect(yield* Effect.promise(() => storedIn(url, workspaceId))).toEqual(oneDocument)
        }))
    })

    it.scopedLive("cuts at 20 points spread over the write: every outcome is all or nothing, a failure that committed says so, never a hang or a defect", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(migratedDatabase)
        const { documents, proxy } = yield* proxiedStore(url)
        proxy.setLatency(5)
        // The clock starts when the write's statement leaves for the server, not when put is called: under
        // load, reconnecting after the previous cut could otherwise take up the early cut points.
        const statementSent = () =>
          proxy.when({ direction: "toServer", contains: "INSERT INTO files", action: "none" }).then(() => Date.now())
        // Each cut closes every connection: a put on a pooled connection reset while idle fails at once,
        // before its statement leaves, and one retry reconnects. Outside the measured writes.
        const reconnect = documents.put(input(randomUUID())).pipe(Effect.retry({ times: 2 }))
        let longest = 0
        for (let i = 0; i < 3; i++) {
          proxy.cut()
          yield* reconnect
          const sent = statementSent()
          yield* documents.put(input(randomUUID()))
          longest = Math.max(longest, Date.now() - (yield* seen(sent)))
        }
        const outcomes = { committed: 0, failedClean: 0, failedButCommitted: 0 }
        for (let i = 0; i < 20; i++) {
          yield* reconnect
          const workspaceId = randomUUID()
          // Fault injection at a chosen moment (not synchronisation): spread from the statement to past the commit.
          const at = Math.round((i / 19) * longest * 1.2)
          const sent = statementSent()
          const cutter = yield* Effect.fork(seen(sent).pipe(Effect.zipRight(Effect.sleep(Duration.millis(at))), Effect.zipRight(Effect.sync(proxy.cut))))
          const exit = yield* bounded(documents.put(input(workspaceId)))
          yield* Fiber.join(cutter)
          const stored = yield* Effect.promise(() => storedIn(url, workspaceId))
          expect([nothing, oneDocument]).toContainEqual(stored)
          if (Exit.isSuccess(exit)) {
            expect(stored).toEqual(oneDocument)
            outcomes.committed++
          } else {
            const message = expectDatabaseError(exit)
            if (stored.files === 0) outcomes.failedClean++
            else {
              // Committed, but the answer was lost: the error must not claim the write failed.
              expect(message).toMatch(/may or may not have committed/)
              outcomes.failedButCommitted++
            }
          }
        }
        yield* Effect.log(`cut outcomes over ${Math.round(longest * 1.2)} ms: ${JSON.stringify(outcomes)}`)
        expect(outcomes.failedClean + outcomes.failedButCommitted).toBeGreaterThan(0)
      }))
  })

  describe("a silent server is detected within the configured timeouts", () => {
    it.scopedLive("a connection that goes silent mid-write fails the write with DatabaseError after about the statement timeout; a retry with the same version id is safe", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(migratedDatabase)
        const { documents, proxy } = yield* proxiedStore(url)
        const workspaceId = randomUUID()
        yield* documents.put(input(workspaceId, "warm-up.pdf"))
        const request = { ...input(workspaceId), version: { ...input(workspaceId).version, id: randomUUID() } }
        // From the write's statement on, nothing passes and nothing is reset.
        let silentAt = 0
        const silent = proxy.when({ direction: "toServer", contains: "INSERT INTO files", action: "stall" })
          .then(() => (silentAt = Date.now()))
        const exit = yield* bounded(documents.put(request))
        const failedAt = Date.now()
        yield* seen(silent)
        const message = expectDatabaseError(exit)
        const elapsed = failedAt - silentAt
        yield* Effect.log(`silence mid-write detected after ${elapsed} ms (statement timeout 1000 ms): ${message}`)
        expect(message).toMatch(/no answer from the database server within 1100 ms.*may or may not have committed/)
        expect(elapsed).toBeGreaterThanOrEqual(1000)
        expect(elapsed).toBeLessThan(2000)
        // The network heals: the held statement reaches the server, which may run it after all (as TCP would
        // deliver it). A retry with the same version id races it and still leaves exactly one version.
        proxy.resume()
        expect(Exit.isSuccess(yield* bounded(documents.put(request)))).toBe(true)
        expect(yield* Effect.promise(() => storedIn(url, workspaceId))).toEqual(twoDocuments)
      }))

    it.scopedLive("with every connection silent, a write fails with DatabaseError after about the timeouts", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(migratedDatabase)
        const { documents, proxy } = yield* proxiedStore(url)
        const workspaceId = randomUUID()
        yield* documents.put(input(workspaceId, "warm-up.pdf"))
        proxy.stall()
        const started = Date.now()
        const exit = yield* bounded(documents.put(input(workspaceId)))
        const elapsed = Date.now() - started
        const message = expectDatabaseError(exit)
        yield* Effect.log(`silence detected after ${elapsed} ms (connect and statement timeouts 1000 ms): ${message}`)
        // Whichever comes first: a pooled connection's statement deadline, or a new connection's connect timeout.
        expect(message).toMatch(/no answer from the database server|timeout/)
        expect(elapsed).toBeGreaterThanOrEqual(1000)
        expect(elapsed).toBeLessThan(2500)
        proxy.resume()
        // A new connection timed out before sending anything: nothing was written. A pooled one had sent the
        // statement, which the healed network delivers (as TCP would): the error said it may have committed.
        const stored = yield* Effect.promise(() => storedIn(url, workspaceId))
        if (/may or may not have committed/.test(message)) expect([oneDocument, twoDocuments]).toContainEqual(stored)
        else expect(stored).toEqual(oneDocument)
        expect(Exit.isSuccess(yield* bounded(documents.put(input(workspaceId))))).toBe(true)
      }))

    it.scopedLive("a server that accepts the connection but never answers fails the layer after about the connect timeout", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(migratedDatabase)
        const proxy = yield* FaultProxy.scoped(inject("databaseUrl"))
        proxy.stall()
        const started = Date.now()
        const exit = yield* bounded(Effect.scoped(Layer.build(proxiedLayer(proxy, url))))
        const elapsed = Date.now() - started
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          expect(Option.map(Cause.failureOption(exit.cause), (e) => (e as { _tag: string })._tag)).toEqual(
            Option.some("SqlError")
          )
        }
        yield* Effect.log(`silent connect failed after ${elapsed} ms (connect timeout 1000 ms)`)
        expect(elapsed).toBeGreaterThanOrEqual(1000)
        expect(elapsed).toBeLessThan(2500)
      }))

    it.scopedLive("a slow statement is cancelled by the server at the statement timeout; migrations are exempt", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(migratedDatabase)
        const context = yield* Layer.build(
          Database.layer({ url: Redacted.make(url), statementTimeout, connectTimeout })
        )
        const sql = Context.get(context, SqlClient.SqlClient)
        const slow = bounded(sql`SELECT pg_sleep(1.2)`)
        const refused = yield* slow
        expect(Exit.isFailure(refused)).toBe(true)
        if (Exit.isFailure(refused)) {
          const error = Option.getOrThrow(Cause.failureOption(refused.cause)) as { _tag: string; cause: { code?: string } }
          expect(error._tag).toBe("SqlError")
          // The server's cancellation (57014), not the client giving up: the connection stays usable.
          expect(error.cause.code).toBe("57014")
        }
        const exempt = yield* bounded(
          sql.withTransaction(Database.withoutStatementTimeout(sql`SELECT pg_sleep(1.2)`)).pipe(Effect.provide(context))
        )
        expect(Exit.isSuccess(exempt)).toBe(true)
        // The exemption ends with its transaction.
        expect(Exit.isFailure(yield* bounded(sql.withTransaction(sql`SELECT pg_sleep(1.2)`)))).toBe(true)
      }))
  })

  it.scopedLive("a change stream through the proxy resumes after a stall and after a cut, delivering every change once, in order", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(migratedDatabase)
      const proxy = yield* FaultProxy.scoped(inject("databaseUrl"))
      const feedContext = yield* Layer.build(
        DocumentChanges.layer({ pollInterval: Duration.millis(50) }).pipe(Layer.provideMerge(proxiedLayer(proxy, url)))
      )
      const feed = Context.get(feedContext, DocumentChanges.DocumentChanges)
      // The writer goes straight to the server: it keeps writing while the stream's network is down.
      const writerContext = yield* Layer.build(Documents.layer.pipe(Layer.provideMerge(directLayer(url))))
      const documents = Context.get(writerContext, Documents.Documents)
      const workspaceId = randomUUID()
      const write = (n: number) =>
        Effect.forEach(Array.from({ length: n }, () => randomUUID()), (name) => documents.put(input(workspaceId, name)))

      const received = yield* Queue.unbounded<DocumentChanges.FeedEvent>()
      const start = yield* feed.currentCursor
      yield* feed.stream({ from: start, workspaceId }).pipe(
        Stream.filter((event) => event._tag === "Change"),
        Stream.runForEach((event) => Queue.offer(received, event)),
        Effect.forkScoped
      )
      const takeChanges = (n: number) =>
        Queue.takeBetween(received, n, n).pipe(
          Effect.map(Chunk.toReadonlyArray),
          Effect.timeoutFail({ duration: Duration.seconds(15), onTimeout: () => new Error(`fewer than ${n} changes arrived`) })
        )
      const delivered: Array<DocumentChanges.FeedEvent> = []

      yield* write(3)
      delivered.push(...(yield* takeChanges(6)))

      // Stall: the library's connections go silent. Writes continue directly.
      proxy.stall()
      const stalledAt = Date.now()
      const closedOne = Effect.promise(() => proxy.nextClientClose())
      yield* write(4)
      // The client notices the silence (its statement deadline) and closes the connection.
      yield* closedOne.pipe(Effect.timeoutFail({ duration: Duration.seconds(5), onTimeout: () => new Error("stall never noticed") }))
      const noticedAfter = Date.now() - stalledAt
      yield* Effect.log(`the feed noticed the stall after ${noticedAfter} ms (statement timeout 1000 ms)`)
      expect(noticedAfter).toBeLessThan(3000)
      expect(yield* Queue.size(received)).toBe(0)
      proxy.resume()
      delivered.push(...(yield* takeChanges(8)))

      // Cut: every connection is reset. Writes continue directly.
      const acceptedBefore = proxy.stats().accepted
      proxy.cut()
      yield* write(5)
      delivered.push(...(yield* takeChanges(10)))
      expect(proxy.stats().accepted).toBeGreaterThan(acceptedBefore)

      // Nothing more arrives: no change was delivered twice.
      yield* write(1)
      delivered.push(...(yield* takeChanges(2)))
      expect(yield* Queue.size(received)).toBe(0)

      const expected = yield* Effect.promise(() =>
        withClient(url, async (client) =>
          (await client.query(
            `SELECT id FROM document_changes WHERE workspace_id = $1 ORDER BY tx_id, id`,
            [workspaceId]
          )).rows.map((row) => String(row.id))
        )
      )
      const ids = delivered.map((event) => event._tag === "Change" ? String(event.change.id) : "")
      expect(expected).toHaveLength(26)
      expect(ids).toEqual(expected)
    }))

  describe("migrate interrupted mid-step reports a clear failure, changes nothing, and the next run completes", () => {
    const legacyDatabase = async () => {
      const url = await createDatabase("faults_legacy")
      await withClient(url, async (client) => {
        await client.query(alembicSchema)
        await fillMessyData(client)
        await fillBulk(client, 500)
      })
      return url
    }
    const snapshot = (url: string) =>
      withClient(url, async (client) => ({ schema: await schemaSnapshot(client), data: await dataSnapshot(client) }))

    it.scopedLive("Migrations.run, cut during 0002's backfill", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(legacyDatabase)
        const before = yield* Effect.promise(() => snapshot(url))
        const proxy = yield* FaultProxy.scoped(inject("databaseUrl"))
        const fired = proxy.when({ direction: "toServer", contains: "INSERT INTO files_backfill", action: "cut" })
        const exit = yield* bounded(Migrations.run().pipe(Effect.provide(proxiedLayer(proxy, url))), 20)
        yield* seen(fired)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const failure = Option.getOrThrow(Cause.failureOption(exit.cause))
          expect(failure).toMatchObject({ _tag: "MigrationFailed", migration: "0002_simplify_files" })
          expect((failure as { message: string }).message).toMatch(/ECONNRESET|Connection terminated/)
        }
        expect(yield* Effect.promise(() => snapshot(url))).toEqual(before)
        const applied = yield* bounded(Migrations.run().pipe(Effect.provide(directLayer(url))), 30)
        expect(Exit.isSuccess(applied)).toBe(true)
        const status = yield* Migrations.status().pipe(Effect.provide(directLayer(url)))
        expect(status.pending).toEqual([])
        expect(status.applied.map((step) => step.migration)).toContain("0002_simplify_files")
      }))

    it.scopedLive("Migrations.run, cut after the server committed: the error says the outcome is unknown, and the next run finds nothing pending", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(() => createDatabase("faults_commit"))
        const proxy = yield* FaultProxy.scoped(inject("databaseUrl"))
        const fired = proxy.when({ direction: "toClient", contains: "COMMIT", action: "cut" })
        const exit = yield* bounded(Migrations.run().pipe(Effect.provide(proxiedLayer(proxy, url))), 20)
        yield* seen(fired)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const failure = Option.getOrThrow(Cause.failureOption(exit.cause)) as SqlError
          expect(failure).toMatchObject({ _tag: "SqlError", message: Database.commitOutcomeUnknown })
          // The command does not claim that nothing changed.
          const explained = Migrate.explain(failure)
          expect(explained).not.toMatch(/Nothing was changed/)
          expect(explained).toMatch(/may or may not have committed.*migrate status/)
        }
        const status = yield* Migrations.status().pipe(Effect.provide(directLayer(url)))
        expect(status.pending).toEqual([])
        const again = yield* bounded(Migrations.run().pipe(Effect.provide(directLayer(url))), 20)
        expect(again).toEqual(Exit.succeed([]))
      }))

    it.scopedLive("the migrate command, cut during 0002's backfill: exit code 1 and one clear line", () =>
      Effect.gen(function*() {
        const url = yield* Effect.promise(legacyDatabase)
        const before = yield* Effect.promise(() => snapshot(url))
        const proxy = yield* FaultProxy.scoped(inject("databaseUrl"))
        const fired = proxy.when({ direction: "toServer", contains: "INSERT INTO files_backfill", action: "cut" })
        const result = yield* Effect.promise(() => migrateProcess(proxy.url(url)))
        yield* seen(fired)
        expect(result.code).toBe(1)
        expect(result.stderr.trim().split("\n")).toHaveLength(1)
        expect(result.stderr).toMatch(
          /^Migration failed at 0002_simplify_files: .*(ECONNRESET|Connection terminated).*Every pending step was rolled back/
        )
        expect(yield* Effect.promise(() => snapshot(url))).toEqual(before)
        const again = yield* bounded(Migrations.run().pipe(Effect.provide(directLayer(url))), 30)
        expect(Exit.map(again, (steps) => steps.map((step) => step.migration)[1])).toEqual(Exit.succeed("0002_simplify_files"))
      }))
  })
})
