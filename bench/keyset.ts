/**
 * Keyset page latency as the change log grows: one page of 1,000 changes read
 * by `DocumentChanges.stream` from a cursor at a random position, in a log of
 * 10,000 changes and in one of 10,000,000 (by default), and the same page by
 * bare `pg` running the stream's query shape.
 */
import { randomUUID } from "node:crypto"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Cursor from "../src/internal/cursor.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, databaseUrl, dropDatabase, uniqueName, withClient } from "./server.js"
import { median } from "./stores.js"

export interface KeysetOptions {
  readonly serverUrl: string
  readonly small: number
  readonly large: number
  readonly samples: number
  readonly runs: number
  readonly log: (line: string) => void
}

export interface PageTimes {
  readonly p50: number
  readonly p99: number
}

export interface KeysetSize {
  readonly changes: number
  readonly fillSeconds: number
  readonly tableMb: number
  /** Per run. */
  readonly stream: ReadonlyArray<PageTimes>
  readonly streamWorkspace: ReadonlyArray<PageTimes>
  readonly bare: ReadonlyArray<PageTimes>
}

export interface KeysetResult {
  readonly samples: number
  readonly sizes: readonly [KeysetSize, KeysetSize]
}

const quiet = Logger.minimumLogLevel(LogLevel.Warning)
const rowsPerTransaction = 10_000
const pageSize = 1000
const workspaceCount = 100

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

const times = (values: ReadonlyArray<number>): PageTimes => {
  const sorted = [...values].sort((a, b) => a - b)
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}

/**
 * `changes` rows in one statement, tx_id advancing every 10,000 rows as if written by that many
 * transactions (all below the horizon); the workspace index is built afterwards, as a restore would.
 * Document ids are md5s of a per-fill seed: gen_random_uuid() cost about 6 µs a call here, over a
 * minute for 10,000,000 rows.
 */
const fill = async (url: string, changes: number, log: (line: string) => void) => {
  const started = Date.now()
  const workspaces = Array.from({ length: workspaceCount }, () => randomUUID())
  await withClient(url, async (client) => {
    await client.query("SET maintenance_work_mem = '512MB'")
    await client.query("DROP INDEX document_changes_workspace_feed_order")
    await client.query(
      `INSERT INTO document_changes (tx_id, workspace_id, document_id, kind, op, version_no)
       SELECT ((g / ${rowsPerTransaction}) + 3)::text::xid8, ($1::uuid[])[1 + g % ${workspaceCount}], md5($3 || g)::uuid,
              (ARRAY['input', 'output', 'log', 'export'])[1 + g % 4],
              CASE WHEN g % 2 = 0 THEN 'created' ELSE 'version_added' END,
              CASE WHEN g % 2 = 0 THEN NULL ELSE 1 + g % 7 END
       FROM generate_series(0, $2::int - 1) g`,
      [workspaces, changes, randomUUID()]
    )
    await client.query("CREATE INDEX document_changes_workspace_feed_order ON document_changes (workspace_id, tx_id, id)")
    await client.query("VACUUM ANALYZE document_changes")
    // The synthetic tx_ids must lie below every snapshot's xmin, as committed history does.
    const top = BigInt(Math.floor((changes - 1) / rowsPerTransaction) + 3)
    for (;;) {
      const { rows: [row] } = await client.query<{ xid: string }>("SELECT pg_current_xact_id()::text AS xid")
      if (BigInt(row!.xid) > top + 1n) break
    }
  })
  const fillSeconds = (Date.now() - started) / 1000
  const tableMb = await withClient(url, async (client) =>
    Number((await client.query<{ bytes: string }>("SELECT pg_total_relation_size('document_changes') AS bytes")).rows[0]!.bytes) / 1024 ** 2)
  log(`keyset: ${changes.toLocaleString("en-US")} changes written in ${fillSeconds.toFixed(1)} s (${tableMb.toFixed(0)} MB with indexes)`)
  return { fillSeconds, tableMb, workspaces }
}

const keysetQuery = `SELECT c.id, c.tx_id::text AS tx_id, c.workspace_id, c.document_id, c.kind, c.op, c.version_no, c.changed_at
  FROM document_changes c
  WHERE (c.tx_id, c.id) > ($1::xid8, $2) AND c.tx_id < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY c.tx_id, c.id LIMIT ${pageSize}`

const measureSize = async (serverUrl: string, changes: number, options: KeysetOptions): Promise<KeysetSize> => {
  const name = uniqueName("bench_keyset")
  await createDatabase(serverUrl, name)
  const url = databaseUrl(serverUrl, name)
  try {
    const runtime = ManagedRuntime.make(
      DocumentChanges.layer({ wakeups: false }).pipe(
        Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 4 })),
        Layer.provide(quiet)
      )
    )
    const client = new pg.Client({ connectionString: url })
    try {
      await runtime.runPromise(Migrations.run())
      const { fillSeconds, tableMb, workspaces } = await fill(url, changes, options.log)
      await client.connect()
      const epoch = (await client.query<{ epoch: string }>("SELECT epoch FROM document_feed")).rows[0]!.epoch
      const feed = await runtime.runPromise(DocumentChanges.DocumentChanges)
      // Random starting points with at least a page after them.
      const starts = async () => {
        const ids = Array.from({ length: options.samples }, () => 1 + Math.floor(Math.random() * Math.max(1, changes - pageSize)))
        const { rows } = await client.query<{ tx_id: string; id: string }>(
          "SELECT tx_id::text AS tx_id, id::text AS id FROM document_changes WHERE id = ANY($1::bigint[])",
          [ids]
        )
        return rows.map((row) => ({ txId: BigInt(row.tx_id), id: BigInt(row.id) }))
      }
      const page = async (from: Cursor.Position, workspaceId?: string) => {
        const cursor = Cursor.encode({ epoch, ...from })
        const started = performance.now()
        // A workspace's page may end at the end of the log (CaughtUp) before 100 changes.
        const events = feed.stream({ from: cursor, ...(workspaceId ? { workspaceId } : {}) }).pipe(
          Stream.filter((event) => event._tag !== "Heartbeat"),
          Stream.takeUntil((event) => event._tag === "CaughtUp"),
          Stream.filter((event) => event._tag === "Change"),
          Stream.take(workspaceId ? 100 : pageSize)
        )
        const got = await runtime.runPromise(Stream.runCount(events))
        if (workspaceId === undefined && got !== pageSize) throw new Error(`a page had ${got} changes`)
        return performance.now() - started
      }
      const barePage = async (from: Cursor.Position) => {
        const started = performance.now()
        const { rows } = await client.query(keysetQuery, [String(from.txId), String(from.id)])
        if (rows.length !== pageSize) throw new Error(`a bare page had ${rows.length} rows`)
        return performance.now() - started
      }
      // Warm plans and connections.
      for (const start of (await starts()).slice(0, 5)) {
        await page(start)
        await barePage(start)
      }
      const stream: Array<PageTimes> = []
      const streamWorkspace: Array<PageTimes> = []
      const bare: Array<PageTimes> = []
      for (let run = 0; run < options.runs; run++) {
        const positions = await starts()
        const s: Array<number> = []
        const w: Array<number> = []
        const b: Array<number> = []
        for (const [i, start] of positions.entries()) {
          s.push(await page(start))
          w.push(await page(start, workspaces[i % workspaces.length]))
          b.push(await barePage(start))
        }
        stream.push(times(s))
        streamWorkspace.push(times(w))
        bare.push(times(b))
        options.log(
          `keyset ${changes.toLocaleString("en-US")} run ${run + 1}: stream page p50 ${stream.at(-1)!.p50.toFixed(2)} ms, ` +
            `workspace page p50 ${streamWorkspace.at(-1)!.p50.toFixed(2)} ms, bare pg page p50 ${bare.at(-1)!.p50.toFixed(2)} ms`
        )
      }
      return { changes, fillSeconds, tableMb, stream, streamWorkspace, bare }
    } finally {
      await client.end().catch(() => {})
      await runtime.dispose()
    }
  } finally {
    await dropDatabase(serverUrl, name)
  }
}

export const runKeysetBench = async (options: KeysetOptions): Promise<KeysetResult> => {
  const small = await measureSize(options.serverUrl, options.small, options)
  const large = await measureSize(options.serverUrl, options.large, options)
  return { samples: options.samples, sizes: [small, large] }
}

export const growth = (result: KeysetResult, key: "stream" | "streamWorkspace" | "bare") => {
  const [small, large] = result.sizes
  return median(large[key].map((t, i) => t.p50 / small[key][i]!.p50))
}

export const formatKeyset = (result: KeysetResult) => {
  const [small, large] = result.sizes
  const cell = (size: KeysetSize, key: "stream" | "streamWorkspace" | "bare") =>
    `${median(size[key].map((t) => t.p50)).toFixed(2)} / ${median(size[key].map((t) => t.p99)).toFixed(2)}`
  const line = (label: string, key: "stream" | "streamWorkspace" | "bare", target: string) =>
    `| ${label} | ${cell(small, key)} | ${cell(large, key)} | ${growth(result, key).toFixed(2)} | ${target} |`
  return [
    `${result.samples} pages per run and size from random positions; ${small.changes.toLocaleString("en-US")} changes ` +
      `(${small.tableMb.toFixed(0)} MB) and ${large.changes.toLocaleString("en-US")} changes (${large.tableMb.toFixed(0)} MB ` +
      `with indexes, written in ${large.fillSeconds.toFixed(0)} s), ${workspaceCount} workspaces, ${rowsPerTransaction.toLocaleString("en-US")} ` +
      "changes per transaction id. Stream page: `stream({ from: cursor })` until 1,000 changes (one read); workspace page: " +
      "`stream({ from: cursor, workspaceId })` until 100 changes of one of the 100 workspaces, or the end of the log " +
      "(it reads through the (workspace_id, tx_id, id) index); bare pg: the stream's keyset query, 1,000 rows.",
    "",
    `| page | p50 / p99 ms at ${small.changes.toLocaleString("en-US")} | p50 / p99 ms at ${large.changes.toLocaleString("en-US")} | p50 ratio large / small | target |`,
    "| --- | ---: | ---: | ---: | ---: |",
    line("stream, 1,000 changes", "stream", "<= 1.5"),
    line("stream, one workspace, 100 changes", "streamWorkspace", ""),
    line("bare pg keyset query, 1,000 rows", "bare", "")
  ].join("\n")
}
