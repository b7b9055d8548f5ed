import { randomUUID } from "node:crypto"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as FeedGuard from "../src/FeedGuard.js"
import * as Cursor from "../src/internal/cursor.js"
import { migrations as shippedMigrations } from "../migrations/index.js"
import * as Migrations from "../src/Migrations.js"
import * as Cluster from "./support/cluster.js"
import { createDatabase } from "./support/Database.js"

const storeLayer = (url: string, options: DocumentChanges.Options = {}) =>
  Layer.mergeAll(Documents.layer, DocumentChanges.layer({ wakeups: false, ...options })).pipe(
    Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 8 }))
  )

const migrate = Migrations.run().pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))

const store = async (url: string, options: DocumentChanges.Options = {}) => {
  const runtime = ManagedRuntime.make(storeLayer(url, options))
  await runtime.runPromise(migrate)
  return runtime
}

type Store = Awaited<ReturnType<typeof store>>

const putInputs = (runtime: Store, workspaceId: string, count: number, prefix: string) =>
  runtime.runPromise(Effect.flatMap(Documents.Documents, (documents) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => `${prefix}-${i}.pdf`),
      (name) => documents.put({ kind: "input", workspaceId, name, version: { storageKey: `k/${name}`, byteSize: 1 } })
    )))

/** Streams from `from` until caught up: the changes, and the CaughtUp cursor. */
const readToEnd = (runtime: Store, from: string) =>
  runtime.runPromise(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
    feed.stream({ from }).pipe(
      Stream.takeUntil((event) => event._tag === "CaughtUp"),
      Stream.runCollect,
      Effect.map((events) => {
        const all = Chunk.toReadonlyArray(events)
        return {
          changes: all.flatMap((event) => event._tag === "Change" ? [event.change] : []),
          cursor: all[all.length - 1]!.cursor
        }
      })
    )))

/** The next `count` changes after `from`. */
const collectChanges = (from: string, count: number) =>
  Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
    feed.stream({ from }).pipe(
      Stream.filterMap((event) => event._tag === "Change" ? Option.some(event.change) : Option.none()),
      Stream.take(count),
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray)
    ))

const streamFailure = (runtime: Store, from: string) =>
  runtime.runPromise(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
    feed.stream({ from }).pipe(Stream.runDrain, Effect.flip)))

const feedOrder = (url: string) =>
  Cluster.query<{ change: string }>(
    url,
    `SELECT document_id || ' ' || op || coalesce(' v' || version_no, '') AS change FROM document_changes ORDER BY tx_id, id`
  ).then((rows) => rows.map((row) => row.change))

// Every subtransaction that writes takes a transaction id of its own: this moves the cluster's counter on.
const burnTransactionIds = (url: string, count: number) =>
  Cluster.query(url, `
    DO $$ BEGIN
      CREATE TEMP TABLE burn (i int);
      FOR i IN 1..${count} LOOP
        BEGIN INSERT INTO burn VALUES (i); EXCEPTION WHEN others THEN NULL; END;
      END LOOP;
    END $$`)

const copiedTables = ["files", "file_versions", "document_changes", "document_feed", "document_consumers"] as const

/**
 * What a logical restore does, with SQL (no PostgreSQL 17 pg_dump is installable here): the schema by
 * the migrations, then every row of the library's tables copied as values, triggers off (as
 * pg_restore's data section runs before the triggers exist), and the change id sequence set.
 */
const logicalCopy = async (sourceUrl: string, targetUrl: string) => {
  const target = new pg.Client({ connectionString: targetUrl })
  await target.connect()
  try {
    await target.query("BEGIN")
    await target.query("SET LOCAL session_replication_role = replica")
    await target.query(`TRUNCATE ${copiedTables.join(", ")}`)
    for (const table of copiedTables) {
      const [{ rows }] = await Cluster.query<{ rows: string }>(
        sourceUrl,
        `SELECT coalesce(json_agg(t), '[]')::text AS rows FROM ${table} t`
      )
      await target.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1)`, [rows])
    }
    const [{ value }] = await Cluster.query<{ value: string }>(
      sourceUrl,
      "SELECT last_value::text AS value FROM document_changes_id_seq"
    )
    await target.query("SELECT setval('document_changes_id_seq', $1)", [value])
    await target.query("COMMIT")
  } finally {
    await target.end()
  }
}

const clusters: Array<Cluster.Cluster> = []
afterAll(async () => {
  await Promise.all(clusters.map((cluster) => cluster.stop()))
})

// One fresh cluster for the logical copies, with the run's server's credentials, so that a copy can
// be reached by its source's URL with only the port changed.
let copies: Promise<Cluster.Cluster> | undefined
const copyTarget = async (sourceUrl: string) => {
  copies ??= Cluster.start().then(async (cluster) => {
    clusters.push(cluster)
    const password = decodeURIComponent(new URL(sourceUrl).password)
    await Cluster.query(cluster.url, `ALTER ROLE postgres PASSWORD ${pg.escapeLiteral(password)}`)
    return cluster
  })
  const cluster = await copies
  const url = new URL(sourceUrl)
  url.port = new URL(cluster.url).port
  const admin = new URL(url)
  admin.pathname = "/postgres"
  await Cluster.query(admin.toString(), `CREATE DATABASE ${pg.escapeIdentifier(url.pathname.slice(1))}`)
  const migrated = ManagedRuntime.make(Database.layer({ url: Redacted.make(url.toString()) }))
  await migrated.runPromise(migrate)
  await migrated.dispose()
  return url.toString()
}

describe("FeedGuard", () => {
  it("a logical copy into a fresh cluster: a naive reader misses new changes, the guard fails writes and streams with FeedDiverged, repair starts a new epoch", async () => {
    const sourceUrl = await createDatabase("guard")
    const source = await store(sourceUrl)
    const workspaceId = randomUUID()
    // The source's counter well ahead of any fresh cluster's, so the gap is unambiguous.
    await burnTransactionIds(sourceUrl, 3000)
    await putInputs(source, workspaceId, 20, "before")
    const history = await readToEnd(source, "beginning")
    expect(history.changes).toHaveLength(40)
    const lastChange = history.changes[history.changes.length - 1]!
    // A durable consumer that has processed everything.
    let handled = 0
    const consumer = source.runFork(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
      feed.consume({ name: "indexer", handler: (changes) => Effect.sync(() => (handled += changes.length)) })))
    await Cluster.until(async () => handled === 40, "the consumer to handle the history")
    await source.runPromise(Fiber.interrupt(consumer))
    await source.dispose()
    const sourceOrder = await feedOrder(sourceUrl)

    const targetUrl = await copyTarget(sourceUrl)
    const target = ManagedRuntime.make(storeLayer(targetUrl))
    await logicalCopy(sourceUrl, targetUrl)
    const [{ xmax }] = await Cluster.query<{ xmax: string }>(targetUrl, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax")
    expect(BigInt(xmax)).toBeLessThan(lastChange.txId)

    // Without the guard: a change written now gets a lower transaction id than the history, and a reader
    // positioned at the end of the history (the feed's own read rule) never sees it.
    const rawDocument = randomUUID()
    await Cluster.query(
      targetUrl,
      "INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', 'raw.pdf', 'raw.pdf')",
      [rawDocument, workspaceId]
    )
    const [naive] = await Cluster.query<{ seen: string; stored: string }>(
      targetUrl,
      `SELECT count(*) FILTER (WHERE (tx_id, id) > ($1::xid8, $2) AND tx_id < pg_snapshot_xmin(pg_current_snapshot()))::text AS seen,
              count(*)::text AS stored
       FROM document_changes WHERE document_id = $3`,
      [String(lastChange.txId), String(lastChange.id), rawDocument]
    )
    expect(naive).toEqual({ seen: "0", stored: "1" })

    // With it: the verdict, writes and streams fail with FeedDiverged, and nothing is written.
    const verdict = await target.runPromise(FeedGuard.verdict)
    expect(verdict._tag).toBe("Diverged")
    const refused = await target.runPromise(Effect.flip(Effect.flatMap(Documents.Documents, (documents) =>
      documents.put({ kind: "input", workspaceId, name: "after.pdf", version: { storageKey: "k", byteSize: 1 } }))))
    expect(refused).toMatchObject({ _tag: "FeedDiverged", serverNextTxId: expect.any(String) })
    expect(refused.message).toMatch(/repair-feed/)
    expect(await Cluster.query(targetUrl, "SELECT 1 FROM files WHERE name = 'after.pdf'")).toEqual([])
    expect(await streamFailure(target, history.cursor)).toMatchObject({ _tag: "FeedDiverged" })
    expect(await streamFailure(target, "beginning")).toMatchObject({ _tag: "FeedDiverged" })

    // The remedy: a new epoch; the history kept, in its order, re-stamped below every new change.
    const repaired = await target.runPromise(FeedGuard.repair())
    expect(repaired).toMatchObject({ repaired: true, restamped: 41 })
    expect(repaired.epoch).not.toBe(repaired.previousEpoch)
    expect((await target.runPromise(FeedGuard.verdict))._tag).toBe("Healthy")
    expect(await feedOrder(targetUrl)).toEqual([`${rawDocument} created`, ...sourceOrder])
    const [files] = await Cluster.query<{ n: string }>(targetUrl, "SELECT count(*)::text AS n FROM files")
    expect(files!.n).toBe("21")

    // Old cursors, and the consumer's checkpoint, get CursorExpired { reason: "epoch" }.
    expect(await streamFailure(target, history.cursor)).toMatchObject({ _tag: "CursorExpired", reason: "epoch" })
    const consumerFailure = await target.runPromise(Effect.flip(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
      feed.consume({ name: "indexer", handler: () => Effect.void }))))
    expect(consumerFailure).toMatchObject({ _tag: "CursorExpired", reason: "epoch" })

    // Every new change is delivered: live, and from the new epoch's beginning.
    const replay = await readToEnd(target, "beginning")
    expect(replay.changes).toHaveLength(41)
    const live = target.runFork(collectChanges(replay.cursor, 20))
    const written = await putInputs(target, workspaceId, 10, "after")
    const delivered = await target.runPromise(Fiber.join(live))
    expect(delivered.map((change) => `${change.documentId} ${change.op}`)).toEqual(
      written.flatMap(({ document }) => [`${document.id} created`, `${document.id} version_added`])
    )
    expect(delivered.every((change) => change.txId > replay.changes[40]!.txId)).toBe(true)
    await target.dispose()
  })

  it("a database swapped under a running process's URL for a logical copy: once the pool reconnects, the live stream and writes fail with FeedDiverged", async () => {
    const sourceUrl = await createDatabase("guard")
    const proxy = await Cluster.switchingProxy(sourceUrl)
    const runtime = await store(proxy.url(sourceUrl), { heartbeatInterval: "200 millis" })
    const workspaceId = randomUUID()
    await burnTransactionIds(sourceUrl, 3000)
    await putInputs(runtime, workspaceId, 5, "before")
    let caughtUp = false
    const live = runtime.runFork(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
      feed.stream({ from: "beginning" }).pipe(
        Stream.tap((event) => Effect.sync(() => (caughtUp ||= event._tag === "CaughtUp"))),
        Stream.runDrain,
        Effect.flip
      )))
    await Cluster.until(async () => caughtUp, "the stream to catch up")

    // The copy: a database of the same name, with the same credentials, on a fresh cluster.
    const targetUrl = await copyTarget(sourceUrl)
    await logicalCopy(sourceUrl, targetUrl)
    proxy.switchTo(targetUrl)

    expect(await runtime.runPromise(Fiber.join(live))).toMatchObject({ _tag: "FeedDiverged" })
    // A pooled connection that died with the switch may fail one write first.
    const put = Effect.flatMap(Documents.Documents, (documents) =>
      documents.put({ kind: "input", workspaceId, name: "after.pdf", version: { storageKey: "k", byteSize: 1 } }))
    const refused = await runtime.runPromise(put.pipe(
      Effect.retry({ times: 3, while: (error) => error._tag === "DatabaseError" }),
      Effect.flip
    ))
    expect(refused).toMatchObject({ _tag: "FeedDiverged" })
    await runtime.dispose()
    await proxy.close()
  })

  it("repair while writers run: the new epoch delivers every change once, each document's in order", async () => {
    const url = await createDatabase("guard")
    const runtime = await store(url)
    const documents = await runtime.runPromise(Documents.Documents)
    const workspaceId = randomUUID()
    const names = Array.from({ length: 6 }, (_, i) => `shared-${i}.pdf`)
    let writing = true
    // Writers adding versions to a few documents, across the repair.
    const writers = Array.from({ length: 4 }, async (_, lane) => {
      for (let i = 0; writing || i < 5; i++) {
        await runtime.runPromise(documents.put({
          kind: "input",
          workspaceId,
          name: names[(lane + i) % names.length]!,
          version: { storageKey: `k/${lane}/${i}`, byteSize: 1 }
        }))
      }
    })
    await Cluster.until(async () => (await feedOrder(url)).length >= 40, "the writers to start")
    const repaired = await runtime.runPromise(FeedGuard.repair({ force: true }))
    expect(repaired.repaired).toBe(true)
    writing = false
    await Promise.all(writers)
    const stored = await feedOrder(url)
    const { changes } = await readToEnd(runtime, "beginning")
    expect(changes.map((change) => `${change.documentId} ${change.op}${change.versionNo === null ? "" : ` v${change.versionNo}`}`))
      .toEqual(stored)
    for (const documentId of new Set(changes.map((change) => change.documentId))) {
      const own = changes.filter((change) => change.documentId === documentId)
      expect(own[0]!.op).toBe("created")
      expect(own.slice(1).map((change) => change.versionNo)).toEqual(own.slice(1).map((_, i) => i + 1))
    }
    await runtime.dispose()
  })

  it("a changed cluster identity with every position below the counter (pg_upgrade) is adopted: nothing is refused", async () => {
    const url = await createDatabase("guard")
    const runtime = await store(url)
    const workspaceId = randomUUID()
    await putInputs(runtime, workspaceId, 3, "doc")
    await Cluster.query(url, "UPDATE document_feed SET cluster_id = 'another cluster'")
    const verdict = await runtime.runPromise(FeedGuard.verdict)
    expect(verdict).toMatchObject({ _tag: "Adopted", previousCluster: "another cluster" })
    const [recorded] = await Cluster.query<{ same: boolean }>(
      url,
      "SELECT cluster_id = (SELECT system_identifier::text FROM pg_control_system()) AS same FROM document_feed"
    )
    expect(recorded!.same).toBe(true)
    expect((await runtime.runPromise(FeedGuard.verdict))._tag).toBe("Healthy")
    await putInputs(runtime, workspaceId, 1, "later")
    // A healthy feed is not repaired without force.
    expect(await runtime.runPromise(FeedGuard.repair())).toMatchObject({ repaired: false, restamped: 0 })
    await runtime.dispose()
  })

  it("a cursor past the server's transaction counter (taken after the point a database was restored to) gets CursorExpired", async () => {
    const url = await createDatabase("guard")
    const runtime = await store(url)
    await putInputs(runtime, randomUUID(), 2, "doc")
    const { cursor } = await readToEnd(runtime, "beginning")
    const decoded = Either.getOrThrow(Cursor.decode(cursor))
    const later = Cursor.encode({ ...decoded, txId: decoded.txId + 1_000_000n, id: 5n })
    expect(await streamFailure(runtime, later)).toMatchObject({ _tag: "CursorExpired", reason: "epoch" })
    expect((await streamFailure(runtime, later)).message).toMatch(/ahead of this server's transaction counter/)
    // A cursor of this history resumes as ever.
    const resumed = runtime.runFork(collectChanges(cursor, 2))
    const [written] = await putInputs(runtime, randomUUID(), 1, "after")
    expect((await runtime.runPromise(Fiber.join(resumed))).map((change) => change.documentId)).toEqual([
      written!.document.id,
      written!.document.id
    ])
    await runtime.dispose()
  })

  it("checkpoints that move while the guard looks are never taken for a restore: a healthy feed stays Healthy under writers and consumers", async () => {
    const url = await createDatabase("guard")
    const runtime = await store(url, { pollInterval: "5 millis" })
    const workspaceId = randomUUID()
    const feed = await runtime.runPromise(DocumentChanges.DocumentChanges)
    // Consumers that checkpoint after every change, on their own and the signals' cursors.
    const consumers = [0, 1, 2].map((i) =>
      runtime.runFork(feed.consume({ name: `busy-${i}`, maxBatch: 1, handler: () => Effect.void }))
    )
    const writers = runtime.runFork(Effect.forEach([0, 1, 2, 3], (w) =>
      Effect.flatMap(Documents.Documents, (documents) =>
        Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) =>
          documents.put({ kind: "input", workspaceId, name: `w${w}-${i}.pdf`, version: { storageKey: "k", byteSize: 1 } }))),
      { concurrency: "unbounded" }))
    const verdicts: Array<string> = []
    while (verdicts.length < 400) verdicts.push((await runtime.runPromise(FeedGuard.verdict))._tag)
    await runtime.runPromise(Fiber.join(writers))
    for (const consumer of consumers) await runtime.runPromise(Fiber.interrupt(consumer))
    expect(verdicts.filter((tag) => tag !== "Healthy")).toEqual([])
    await runtime.dispose()
  })

  it("a database that has not run migration 0011 yet is Unchecked: nothing is refused, then migrate installs the guard", async () => {
    const url = await createDatabase("guard")
    const runtime = ManagedRuntime.make(storeLayer(url))
    // The history as it stood before 0011 (the migrator never runs a step below the highest applied one).
    const before0011 = Object.fromEntries(Object.entries(shippedMigrations).filter(([key]) => key < "0011"))
    await runtime.runPromise(Migrations.run({ migrations: before0011 }).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning))))
    expect(await runtime.runPromise(FeedGuard.verdict)).toMatchObject({ _tag: "Unchecked" })
    await putInputs(runtime, randomUUID(), 1, "early")
    await runtime.runPromise(migrate)
    expect((await runtime.runPromise(FeedGuard.verdict))._tag).toBe("Healthy")
    await runtime.dispose()
  })

  it("a hot standby promoted to primary keeps serving cursors issued before the failover: nothing lost or repeated", async () => {
    const primary = await Cluster.start(Cluster.primarySettings)
    clusters.push(primary)
    const before = await store(primary.url)
    const workspaceId = randomUUID()
    await putInputs(before, workspaceId, 10, "first")
    const issued = await readToEnd(before, "beginning")
    const standby = await Cluster.standbyOf(primary)
    clusters.push(standby)
    const replicated = await putInputs(before, workspaceId, 10, "second")
    await before.dispose()
    const [{ lsn }] = await Cluster.query<{ lsn: string }>(primary.url, "SELECT pg_current_wal_lsn()::text AS lsn")
    await Cluster.until(async () => {
      const [row] = await Cluster.query<{ done: boolean }>(
        standby.url,
        "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done",
        [lsn]
      )
      return row!.done
    }, "the standby to replay the primary's writes")
    await primary.stop()
    await Cluster.query(standby.url, "SELECT pg_promote(true, 60)")

    const after = ManagedRuntime.make(storeLayer(standby.url))
    expect((await after.runPromise(FeedGuard.verdict))._tag).toBe("Healthy")
    const resumed = after.runFork(collectChanges(issued.cursor, 40))
    const written = await putInputs(after, workspaceId, 10, "third")
    const delivered = await after.runPromise(Fiber.join(resumed))
    expect(delivered.map((change) => `${change.documentId} ${change.op}`)).toEqual(
      [...replicated, ...written].flatMap(({ document }) => [`${document.id} created`, `${document.id} version_added`])
    )
    await after.dispose()
  })
})
