/**
 * `npx tsx bench/standby.ts`: can the change feed be read on a hot standby?
 * (docs/scaling.md). A primary and a streaming standby (embedded PostgreSQL,
 * base backup by the low-level backup API), writers on the primary with a
 * transaction held open across them, a stream from "beginning" on the
 * standby: does it deliver exactly the primary's log, in order, and how late?
 * And what does a durable consumer do there? Prints its findings.
 */
import { randomUUID } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Duration from "effect/Duration"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as Migrations from "../src/Migrations.js"
import * as Cluster from "../test/support/cluster.js"

const quiet = Logger.minimumLogLevel(LogLevel.Warning)
// fsync as the server's default: the figures are latencies.
const primary = await Cluster.start({ ...Cluster.primarySettings, fsync: "on" })
try {
  const writer = ManagedRuntime.make(Documents.layer.pipe(Layer.provideMerge(Database.layer({ url: Redacted.make(primary.url), maxConnections: 8 })), Layer.provide(quiet)))
  await writer.runPromise(Migrations.run())
  const documents = await writer.runPromise(Documents.Documents)
  const ws = randomUUID()
  for (let i = 0; i < 50; i++) await writer.runPromise(documents.put({ kind: "input", workspaceId: ws, name: `before-${i}.pdf`, version: { storageKey: "k", byteSize: 1 } }))
  const admin = new pg.Client({ connectionString: primary.url }); await admin.connect()
  // A base backup without pg_basebackup: the low-level backup API and a file copy.
  const standby = await Cluster.standbyOf(primary)
  const sb = new pg.Client({ connectionString: standby.url }); await sb.connect()
  console.log("standby in recovery:", (await sb.query("SELECT pg_is_in_recovery() AS r")).rows[0].r,
    "snapshot:", (await sb.query("SELECT pg_current_snapshot()::text AS s")).rows[0].s)
  const reader = ManagedRuntime.make(DocumentChanges.layer({ wakeups: false, pollInterval: Duration.millis(50) }).pipe(
    Layer.provideMerge(Database.layer({ url: Redacted.make(standby.url), maxConnections: 4 })), Layer.provide(quiet)))
  const feed = await reader.runPromise(DocumentChanges.DocumentChanges)
  const seen: Array<string> = []
  const arrived = new Map<string, number>()
  const fiber = reader.runFork(feed.stream({ from: "beginning" }).pipe(Stream.runForEach((e) => Effect.sync(() => {
    if (e._tag === "Change") { seen.push(`${e.change.txId}:${e.change.id}`); if (e.change.op === "version_added") arrived.set(e.change.documentId, performance.now()) }
  }))))
  // Writers on the primary, and a transaction held open across them (it must hold delivery back, not lose anything).
  const slow = new pg.Client({ connectionString: primary.url }); await slow.connect()
  await slow.query("BEGIN"); await slow.query(`INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', 'slow.pdf', 'slow.pdf')`, [randomUUID(), ws])
  const acked = new Map<string, number>()
  await Promise.all(Array.from({ length: 8 }, async (_, lane) => {
    for (let i = 0; i < 150; i++) {
      const w = await writer.runPromise(documents.put({ kind: "input", workspaceId: ws, name: `l${lane}-${i}.pdf`, version: { storageKey: "k", byteSize: 1 } }))
      acked.set(w.document.id, performance.now())
      if (i === 75 && lane === 0) await slow.query("COMMIT")
    }
  }))
  const { rows: all } = await admin.query("SELECT tx_id::text || ':' || id AS k FROM document_changes ORDER BY tx_id, id")
  const deadline = Date.now() + 30_000
  while (seen.length < all.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  const same = seen.length === all.length && seen.every((k, i) => k === all[i].k)
  const lat = [...acked].map(([id, at]) => (arrived.get(id) ?? NaN) - at).filter(Number.isFinite).sort((a, b) => a - b)
  console.log(`primary changes ${all.length}, standby stream delivered ${seen.length}, identical order: ${same}`)
  console.log(`ack on primary -> delivered from standby: p50 ${lat[Math.floor(lat.length / 2)]?.toFixed(1)} ms, p99 ${lat[Math.floor(lat.length * 0.99)]?.toFixed(1)} ms, n=${lat.length}`)
  const consumer = await reader.runPromise(feed.consume({ name: "on-standby", handler: () => Effect.void }).pipe(Effect.timeout(Duration.seconds(30)), Effect.either))
  console.log("consume on the standby:", JSON.stringify(consumer).slice(0, 300))
  await reader.runPromise(Fiber.interrupt(fiber))
  await reader.dispose(); await writer.dispose(); await admin.end(); await sb.end(); await slow.end()
  await standby.stop()
} finally {
  await primary.stop()
}
