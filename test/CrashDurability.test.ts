/**
 * Crash durability: the server is killed (SIGKILL, no shutdown of any kind)
 * while several fibers write, then started again. Whatever the library
 * acknowledged to a caller must be there afterwards, whole, with its changes.
 *
 * The server is one of its own, with PostgreSQL's durability defaults (fsync,
 * synchronous_commit and full_page_writes on); the run's shared server has
 * fsync off.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
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
import * as Embedded from "../src/internal/embedded.js"
import * as Migrations from "../src/Migrations.js"
import { withClient } from "./support/Database.js"
import { untilSentinel } from "./support/sentinel.js"

/** What a caller was told: this version of this document is written. */
interface Acknowledged {
  readonly documentId: string
  readonly versionNo: number
  readonly versionId: string
}

/** The postmaster's pid (first line of postmaster.pid) and its children's (the backends and workers). */
const serverProcesses = async (directory: string) => {
  const postmaster = Number((await fs.readFile(path.join(directory, "data", "postmaster.pid"), "utf8")).split("\n")[0])
  const children: Array<number> = []
  for (const entry of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await fs.readFile(`/proc/${entry}/stat`, "utf8").catch(() => "")
    // "pid (comm) state ppid …": comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
    if (ppid === postmaster) children.push(Number(entry))
  }
  return { postmaster, children }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A crash: SIGKILL to the postmaster and, at once, to every backend it had. */
const crash = (directory: string) =>
  Effect.gen(function*() {
    const { children, postmaster } = yield* Effect.promise(() => serverProcesses(directory))
    expect(children.length).toBeGreaterThan(0)
    for (const pid of [postmaster, ...children]) process.kill(pid, "SIGKILL")
    // The kernel reaps them asynchronously; a restart needs them gone (they hold the shared memory).
    while ([postmaster, ...children].some(alive)) yield* Effect.sleep(Duration.millis(10))
  })

describe("Crash durability", () => {
  it.live(
    "after a SIGKILL of the server under concurrent writers, every acknowledged write is present with its changes, " +
      "writers got DatabaseErrors while it was down, the same layer writes again after the restart, " +
      "and a live stream resumes and delivers every change",
    () =>
      Effect.gen(function*() {
        const directory = yield* Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "docstore-crash-")))
        const server = yield* Effect.promise(() => Embedded.ensure(directory, { database: "docstore" }))
        const settings = yield* Effect.promise(() =>
          withClient(server.url, async (client) =>
            (await client.query(
              `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')`
            )).rows.map((row) => `${row.name}=${row.setting}`).sort())
        )
        expect(settings).toEqual(["fsync=on", "full_page_writes=on", "synchronous_commit=on"])

        const runtime = ManagedRuntime.make(
          Layer.mergeAll(Documents.layer, DocumentChanges.layer()).pipe(
            Layer.provideMerge(Database.layer({ url: Redacted.make(server.url), maxConnections: 10 }))
          )
        )
        yield* Effect.promise(() => runtime.runPromise(Migrations.run().pipe(Logger.withMinimumLogLevel(LogLevel.Warning))))
        const workspaceId = randomUUID()

        // A live stream across the crash: it must come back by itself and deliver every change.
        const feed = yield* Effect.promise(() => runtime.runPromise(DocumentChanges.DocumentChanges))
        const start = yield* Effect.promise(() => runtime.runPromise(feed.currentCursor))
        let sentinel: string | undefined
        const streamed: Array<string> = []
        const reader = runtime.runFork(feed.stream({ from: start, workspaceId }).pipe(
          untilSentinel(() => sentinel),
          Stream.filterMap((event) => event._tag === "Change" ? Option.some(event.change) : Option.none()),
          Stream.tap((change) => Effect.sync(() => streamed.push(`${change.txId}:${change.id}`))),
          Stream.runDrain
        ))

        const acknowledged: Array<Acknowledged> = []
        const failed: Array<Documents.PutRequest> = []
        const unexpected: Array<string> = []
        let stop = false
        let serverDown = false
        let failuresWhileDown = 0

        // Half the writes create a document, half add a version to one of 20 shared ones
        // (so writers also queue on each other's row locks). Every write carries its
        // version id, so a write whose outcome is unknown can be looked up and retried.
        const request = (): Documents.PutRequest => ({
          kind: "input",
          workspaceId,
          name: Math.random() < 0.5 ? `new-${randomUUID()}.txt` : `shared-${Math.floor(Math.random() * 20)}.txt`,
          version: { id: randomUUID(), storageKey: `k/${randomUUID()}`, byteSize: 1 }
        })
        const writer = Effect.gen(function*() {
          const documents = yield* Documents.Documents
          while (!stop) {
            const put = request()
            // A hang would show up here as a timeout: a put must end one way or the other.
            const exit = yield* documents.put(put).pipe(Effect.timeout(Duration.seconds(15)), Effect.exit)
            if (Exit.isSuccess(exit)) {
              const { version } = exit.value
              acknowledged.push({ documentId: version.documentId, versionNo: version.versionNo, versionId: version.id })
              continue
            }
            failed.push(put)
            const error = Cause.failureOption(exit.cause)
            if (Option.isNone(error)) unexpected.push(`defect or interruption: ${Cause.pretty(exit.cause)}`)
            else if (error.value._tag !== "DatabaseError") unexpected.push(`${error.value._tag}: ${error.value.message}`)
            if (serverDown) failuresWhileDown++
            // The server is away: do not spin.
            yield* Effect.sleep(Duration.millis(20))
          }
        })
        const writers = Array.from({ length: 8 }, () => runtime.runFork(writer))

        const waitUntil = (condition: () => boolean, what: string, seconds = 20) =>
          Effect.gen(function*() {
            const deadline = Date.now() + seconds * 1000
            while (!condition()) {
              if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
              yield* Effect.sleep(Duration.millis(10))
            }
          })

        yield* waitUntil(() => acknowledged.length >= 400, "400 writes are acknowledged")
        serverDown = true
        yield* crash(directory)
        const acknowledgedBeforeCrash = acknowledged.length
        // Every writer notices: each fails at least once (typed, see `unexpected`).
        yield* waitUntil(() => failuresWhileDown >= 16, "the writers have failed while the server is down")
        const crashed = Date.now()
        const server2 = yield* Effect.promise(() => Embedded.ensure(directory, { database: "docstore" }))
        const restartMillis = Date.now() - crashed
        expect(server2.url).toBe(server.url)
        serverDown = false
        // The same layer (its pool threw away the dead connections) writes again.
        const acknowledgedAtRestart = acknowledged.length
        const restarted = Date.now()
        yield* waitUntil(() => acknowledged.length >= acknowledgedAtRestart + 200, "200 more writes are acknowledged")
        const recoveryMillis = Date.now() - restarted
        stop = true
        yield* Effect.forEach(writers, Fiber.join)

        expect(unexpected).toEqual([])
        expect(failed.length).toBeGreaterThanOrEqual(16)

        // 1. Every acknowledged write is there: document id, version number and version id.
        const missing = yield* Effect.promise(() =>
          withClient(server.url, async (client) =>
            (await client.query(
              `SELECT a.version_id FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS a(version_id, document_id, version_no)
               LEFT JOIN file_versions v ON v.id = a.version_id AND v.file_id = a.document_id AND v.version_no = a.version_no
               WHERE v.id IS NULL`,
              [
                acknowledged.map((a) => a.versionId),
                acknowledged.map((a) => a.documentId),
                acknowledged.map((a) => a.versionNo)
              ]
            )).rows)
        )
        expect(missing).toEqual([])

        // 2. No document without its first version; version numbers have no gaps.
        const broken = yield* Effect.promise(() =>
          withClient(server.url, async (client) =>
            (await client.query(
              `SELECT f.id, count(v.id) AS versions, min(v.version_no) AS first, max(v.version_no) AS last
               FROM files f LEFT JOIN file_versions v ON v.file_id = f.id
               GROUP BY f.id
               HAVING count(v.id) = 0 OR min(v.version_no) <> 1 OR max(v.version_no) <> count(v.id)`
            )).rows)
        )
        expect(broken).toEqual([])

        // 3. The change log has every acknowledged change: version_added for each, created for each first version.
        const unlogged = yield* Effect.promise(() =>
          withClient(server.url, async (client) =>
            (await client.query(
              `SELECT a.document_id, a.version_no FROM unnest($1::uuid[], $2::int[]) AS a(document_id, version_no)
               WHERE NOT EXISTS (SELECT 1 FROM document_changes c
                                 WHERE c.document_id = a.document_id AND c.op = 'version_added' AND c.version_no = a.version_no)
                  OR (a.version_no = 1 AND NOT EXISTS (SELECT 1 FROM document_changes c
                                                        WHERE c.document_id = a.document_id AND c.op = 'created'))`,
              [acknowledged.map((a) => a.documentId), acknowledged.map((a) => a.versionNo)]
            )).rows)
        )
        expect(unlogged).toEqual([])

        // 4. A write that failed may have committed just before the crash (its answer was lost):
        //    retried with its version id, each is applied exactly once.
        const stored = (ids: ReadonlyArray<string>) =>
          withClient(server.url, async (client) =>
            (await client.query(`SELECT id FROM file_versions WHERE id = ANY($1::uuid[])`, [ids])).rows.length)
        const failedIds = failed.map((put) => put.version.id!)
        const committedDespiteError = yield* Effect.promise(() => stored(failedIds))
        const retried = yield* Effect.promise(() =>
          runtime.runPromise(
            Effect.forEach(failed, (put) => Effect.flatMap(Documents.Documents, (d) => d.put(put)), { concurrency: 8 })
          )
        )
        expect(retried.filter((written) => written.replayed)).toHaveLength(committedDespiteError)
        expect(yield* Effect.promise(() => stored(failedIds))).toBe(failed.length)

        // 5. The live stream came back by itself and delivered the change log exactly, in order.
        const last = yield* Effect.promise(() =>
          runtime.runPromise(Effect.flatMap(Documents.Documents, (documents) =>
            documents.put({ ...request(), name: `sentinel-${randomUUID()}.txt` })))
        )
        sentinel = last.document.id
        const joined = Date.now()
        yield* Fiber.join(reader)
        const streamMillis = Date.now() - joined
        const logged = yield* Effect.promise(() =>
          withClient(server.url, async (client) =>
            (await client.query(
              `SELECT tx_id::text || ':' || id::text AS key FROM document_changes WHERE workspace_id = $1 ORDER BY tx_id, id`,
              [workspaceId]
            )).rows.map((row) => row.key as string))
        )
        expect(streamed).toEqual(logged)

        console.log(
          `crash durability: ${acknowledged.length} writes acknowledged (${acknowledgedBeforeCrash} before the SIGKILL), ` +
            `0 lost; ${failed.length} failed with DatabaseError (${failuresWhileDown} while the server was down), ` +
            `${committedDespiteError} of them had committed before the crash and were replayed on retry; ` +
            `down and restarted (crash recovery) in ${restartMillis} ms, 200 writes after it in ${recoveryMillis} ms, ` +
            `the stream had delivered everything ${streamMillis} ms after the last write`
        )
        yield* Effect.promise(() => runtime.dispose())
        yield* Effect.promise(() => Embedded.stop(directory))
        yield* Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
      }),
    { timeout: 60_000 }
  )
})
