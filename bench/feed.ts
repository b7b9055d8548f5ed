/**
 * The change feed benchmark (DocumentChanges), each figure side by side with a
 * bare `pg` baseline measured in the same run:
 *
 * 1. Catch-up: `document_changes` filled with N rows (INSERT ... SELECT
 *    generate_series, 10,000 rows per transaction so tx_id varies), then the
 *    Stream from "beginning" until CaughtUp against a bare `pg` keyset loop of
 *    the same query shape and against `COPY (...) TO STDOUT`.
 * 2. Live delivery latency with the default layer options: receive time minus
 *    the time the write was acknowledged (`put` returned / COMMIT returned), for
 *    a subscriber in this process, one in a child process (bench/feedChild.ts),
 *    and raw SQL writes without NOTIFY (delivered by the poll). The baselines
 *    are a bare `pg` LISTEN + keyset reader woken by a NOTIFY sent after the
 *    commit, in this process and in a child process.
 * 3. Feed queries per second with 1 and with 1,000 idle live subscribers.
 */
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, databaseUrl, dropDatabase, uniqueName, withClient } from "./server.js"

const benchDirectory = path.dirname(fileURLToPath(import.meta.url))
const projectDirectory = path.dirname(benchDirectory)
const childScript = path.join(benchDirectory, "feedChild.ts")

/** Wall clock with sub-millisecond resolution, comparable across processes on one machine. */
export const now = (): number => performance.timeOrigin + performance.now()

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!
}

/** Nearest-rank percentile. */
const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

const int = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a"
const ms = (n: number) => Number.isFinite(n) ? n.toFixed(1) : "n/a"
const ratio = (n: number) => Number.isFinite(n) ? n.toFixed(2) : "n/a"

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

const withDatabase = async <A>(serverUrl: string, body: (url: string) => Promise<A>): Promise<A> => {
  const name = uniqueName("bench_feed")
  await createDatabase(serverUrl, name)
  try {
    return await body(databaseUrl(serverUrl, name))
  } finally {
    await dropDatabase(serverUrl, name)
  }
}

const storeRuntime = (url: string, maxConnections = 10) =>
  ManagedRuntime.make(
    Layer.mergeAll(Documents.layer, DocumentChanges.layer()).pipe(
      Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections })),
      Layer.provide(quiet)
    )
  )

type StoreRuntime = ReturnType<typeof storeRuntime>

const migrate = async (url: string) => {
  const runtime = ManagedRuntime.make(Database.layer({ url: Redacted.make(url), maxConnections: 1 }).pipe(Layer.provide(quiet)))
  try {
    await runtime.runPromise(Migrations.run())
  } finally {
    await runtime.dispose()
  }
}

// ---------------------------------------------------------------------------
// 1. Catch-up
// ---------------------------------------------------------------------------

// Qualified: an unqualified ORDER BY tx_id would sort by the text alias (a seq scan and a sort).
const changeColumns = "c.id, c.tx_id::text AS tx_id, c.workspace_id, c.document_id, c.kind, c.op, c.version_no, c.changed_at"
const keysetQuery = `SELECT ${changeColumns} FROM document_changes c
  WHERE (c.tx_id, c.id) > ($1::xid8, $2) AND c.tx_id < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY c.tx_id, c.id LIMIT 1000`
const chunkRows = 10_000

/** N rows in `document_changes`, 10,000 per transaction, on two connections (so ids and tx_ids interleave). */
const fillChanges = async (url: string, rows: number, log: (line: string) => void) => {
  const workspaces = Array.from({ length: 100 }, () => randomUUID())
  const chunks = Array.from({ length: Math.ceil(rows / chunkRows) }, (_, i) => [i * chunkRows + 1, Math.min(rows, (i + 1) * chunkRows)] as const)
  const started = Date.now()
  let next = 0
  await Promise.all([0, 1].map(() =>
    withClient(url, async (client) => {
      while (next < chunks.length) {
        const [from, to] = chunks[next++]!
        await client.query(
          `INSERT INTO document_changes (workspace_id, document_id, kind, op, version_no)
           SELECT ($1::uuid[])[1 + g % 100], gen_random_uuid(), (ARRAY['input', 'output', 'log', 'export'])[1 + g % 4],
                  CASE WHEN g % 2 = 0 THEN 'created' ELSE 'version_added' END,
                  CASE WHEN g % 2 = 0 THEN NULL ELSE 1 + g % 7 END
           FROM generate_series($2::int, $3::int) g`,
          [workspaces, from, to]
        )
      }
    })
  ))
  await withClient(url, async (client) => {
    await client.query("VACUUM ANALYZE document_changes")
    const { rows: [row] } = await client.query<{ n: string; txs: string }>(
      "SELECT count(*) AS n, count(DISTINCT tx_id) AS txs FROM document_changes"
    )
    if (Number(row!.n) !== rows) throw new Error(`document_changes has ${row!.n} rows, expected ${rows}`)
    log(`feed: filled document_changes with ${int(rows)} rows in ${row!.txs} transactions (${((Date.now() - started) / 1000).toFixed(1)} s incl. VACUUM ANALYZE)`)
  })
}

/** The Stream from "beginning", until CaughtUp; returns the number of Change events and rows/s. */
const streamCatchUp = async (runtime: StoreRuntime, limit?: number) => {
  const feed = await runtime.runPromise(DocumentChanges.DocumentChanges)
  let changes = 0
  let caughtUp = false
  const started = performance.now()
  const events = feed.stream({ from: "beginning" }).pipe(Stream.takeUntil((event) => event._tag === "CaughtUp"))
  // Counted a chunk at a time, so that the consumer adds as little as possible to what is measured.
  await runtime.runPromise(
    (limit === undefined ? events : Stream.take(events, limit)).pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.sync(() => {
          for (const event of chunk) {
            if (event._tag === "Change") changes++
            else if (event._tag === "CaughtUp") caughtUp = true
          }
        })
      )
    )
  )
  const seconds = (performance.now() - started) / 1000
  if (limit === undefined && !caughtUp) throw new Error("the stream ended without CaughtUp")
  return { rows: changes, perSecond: changes / seconds }
}

/** Bare pg: the same keyset query shape, 1,000 rows a batch, until exhausted. */
const keysetCatchUp = async (client: pg.Client, limit?: number) => {
  let txId = "0"
  let id = "0"
  let rows = 0
  const started = performance.now()
  for (;;) {
    const result = await client.query<{ id: string; tx_id: string }>(
      keysetQuery,
      [txId, id]
    )
    rows += result.rows.length
    const last = result.rows[result.rows.length - 1]
    if (last !== undefined) {
      txId = last.tx_id
      id = last.id
    }
    if (result.rows.length < 1000 || (limit !== undefined && rows >= limit)) break
  }
  return { rows, perSecond: rows / ((performance.now() - started) / 1000) }
}

/**
 * `COPY ... TO STDOUT` read with pg's own protocol handling: pg hands every
 * CopyData message to the active query's `handleCopyData` (the hook
 * pg-copy-streams implements). Counts rows (lines); the bytes are dropped.
 */
class CopyOut extends pg.Query {
  // Not `rows`: that is pg.Query's own field (rows per fetch), and a truthy value makes pg send an
  // extra Sync after CommandComplete, whose ReadyForQuery then ends the connection's next query early.
  copiedRows = 0
  copiedBytes = 0
  handleCopyData(message: { chunk: Buffer }) {
    const chunk = message.chunk
    this.copiedBytes += chunk.length
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) this.copiedRows++
  }
}

const copyCatchUp = async (client: pg.Client) => {
  const started = performance.now()
  const query = new CopyOut(
    `COPY (SELECT ${changeColumns} FROM document_changes c
           WHERE c.tx_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY c.tx_id, c.id) TO STDOUT`
  )
  await new Promise<void>((resolve, reject) => {
    query.on("error", reject)
    query.on("end", () => resolve())
    void client.query(query)
  })
  return { rows: query.copiedRows, perSecond: query.copiedRows / ((performance.now() - started) / 1000), bytes: query.copiedBytes }
}

const copyStreamsInstalled = async () => {
  try {
    await import("pg-copy-streams" as string)
    return true
  } catch {
    return false
  }
}

interface CatchUpRun {
  readonly stream: number
  readonly keyset: number
  readonly copy: number
  readonly first: "stream" | "keyset"
}

const runCatchUp = async (serverUrl: string, rows: number, runs: number, log: (line: string) => void) =>
  withDatabase(serverUrl, async (url) => {
    await migrate(url)
    await fillChanges(url, rows, log)
    const runtime = storeRuntime(url)
    const client = new pg.Client({ connectionString: url })
    // A broken connection fails the next query instead of crashing the process.
    client.on("error", (error) => log(`feed: bare pg client error: ${error.message}`))
    await client.connect()
    try {
      // Warm both paths (connections, plans, caches) on part of the table.
      await streamCatchUp(runtime, Math.min(rows, 20_000))
      await keysetCatchUp(client, Math.min(rows, 20_000))
      const results: Array<CatchUpRun> = []
      for (let run = 0; run < runs; run++) {
        const streamFirst = run % 2 === 0
        const check = (what: string, got: number) => {
          if (got !== rows) throw new Error(`${what} read ${got} rows, expected ${rows}`)
        }
        let stream = 0
        let keyset = 0
        for (const which of streamFirst ? ["stream", "keyset"] : ["keyset", "stream"]) {
          if (which === "stream") {
            const result = await streamCatchUp(runtime)
            check("the stream", result.rows)
            stream = result.perSecond
          } else {
            const result = await keysetCatchUp(client)
            check("the keyset loop", result.rows)
            keyset = result.perSecond
          }
        }
        const copyResult = await copyCatchUp(client)
        check("COPY", copyResult.rows)
        const result: CatchUpRun = { stream, keyset, copy: copyResult.perSecond, first: streamFirst ? "stream" : "keyset" }
        results.push(result)
        log(
          `feed catch-up run ${run + 1}: stream ${int(stream)} rows/s, bare pg keyset ${int(keyset)} rows/s, ` +
            `COPY ${int(result.copy)} rows/s (stream/keyset ${ratio(stream / keyset)}, stream/COPY ${ratio(stream / result.copy)})`
        )
      }
      return results
    } finally {
      await client.end().catch(() => {})
      await runtime.dispose()
    }
  })

// ---------------------------------------------------------------------------
// 2. Live delivery latency
// ---------------------------------------------------------------------------

/** How much work the live part does; smaller in the test suite's smoke run. */
interface LiveSizes {
  readonly writes: number
  readonly warmupWrites: number
  readonly subscribers: number
  readonly queryWindowMs: number
}

const defaultLiveSizes: LiveSizes = { writes: 500, warmupWrites: 20, subscribers: 1_000, queryWindowMs: 3_000 }
const rawChannel = "bench_feed_raw"

/** Something that reports when each document's version_added change arrives. */
interface Receiver {
  /** When the document's version_added change arrived (ms, `now()` clock of this process). */
  readonly receivedAt: (documentId: string) => number | undefined
  readonly stop: () => Promise<void>
  readonly note?: string
}

/** A writer: writes one new document, returns its id once the write is acknowledged. */
type Writer = (i: number) => Promise<string>

/** A live subscriber of this process's DocumentChanges layer, from "now"; resolves after CaughtUp. */
const feedReceiver = async (runtime: StoreRuntime): Promise<Receiver> => {
  const feed = await runtime.runPromise(DocumentChanges.DocumentChanges)
  const received = new Map<string, number>()
  let ready!: () => void
  const caughtUp = new Promise<void>((resolve) => (ready = resolve))
  const fiber = runtime.runFork(
    feed.stream({ from: "now" }).pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          if (event._tag === "Change") {
            if (event.change.op === "version_added") received.set(event.change.documentId, now())
          } else if (event._tag === "CaughtUp") {
            ready()
          }
        })
      )
    )
  )
  await caughtUp
  return {
    receivedAt: (documentId) => received.get(documentId),
    stop: () => runtime.runPromise(Fiber.interrupt(fiber)).then(() => undefined)
  }
}

/**
 * The bare-pg baseline of a live subscriber: LISTEN on its own connection; on
 * each notification (and every 100 ms) the same keyset query from the last
 * position, on another connection. Calls `onChange` for each version_added row.
 */
export const rawListener = async (
  url: string,
  onChange: (documentId: string, at: number) => void
): Promise<{ readonly stop: () => Promise<void> }> => {
  const listener = new pg.Client({ connectionString: url })
  const reader = new pg.Client({ connectionString: url })
  listener.on("error", () => {})
  reader.on("error", () => {})
  await Promise.all([listener.connect(), reader.connect()])
  const { rows: [start] } = await reader.query<{ xmin: string }>("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin")
  let txId = start!.xmin
  let id = "0"
  let reading: Promise<void> | undefined
  let again = false
  let stopped = false
  const drain = (): void => {
    if (stopped) return
    if (reading !== undefined) {
      again = true
      return
    }
    reading = (async () => {
      do {
        again = false
        for (;;) {
          const result = await reader.query<{ id: string; tx_id: string; document_id: string; op: string }>(
            keysetQuery,
            [txId, id]
          )
          const at = now()
          for (const row of result.rows) {
            if (row.op === "version_added") onChange(row.document_id, at)
            txId = row.tx_id
            id = row.id
          }
          if (result.rows.length < 1000) break
        }
      } while (again && !stopped)
    })().catch(() => {}).finally(() => (reading = undefined))
  }
  listener.on("notification", (message) => {
    if (message.channel === rawChannel) drain()
  })
  await listener.query(`LISTEN ${rawChannel}`)
  const poll = setInterval(drain, 100)
  return {
    stop: async () => {
      stopped = true
      clearInterval(poll)
      await reading
      await Promise.all([listener.end().catch(() => {}), reader.end().catch(() => {})])
    }
  }
}

const rawReceiver = async (url: string): Promise<Receiver> => {
  const received = new Map<string, number>()
  const listener = await rawListener(url, (documentId, at) => received.set(documentId, at))
  return { receivedAt: (documentId) => received.get(documentId), stop: listener.stop }
}

/**
 * A subscriber in a child process (bench/feedChild.ts), `feed` (DocumentChanges) or `raw`
 * (rawListener). Its receive times are moved onto this process's clock by the offset
 * measured with ping/pong over stdin/stdout (the exchange with the smallest round trip).
 */
const childReceiver = async (url: string, mode: "feed" | "raw", log: (line: string) => void): Promise<Receiver> => {
  const child = spawn(process.execPath, ["--import", "tsx", childScript, url, mode], {
    cwd: projectDirectory,
    stdio: ["pipe", "pipe", "inherit"]
  })
  const raw = new Map<string, number>()
  let onReady!: () => void
  let onFailure!: (error: Error) => void
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    onFailure = reject
  })
  let pong: ((at: number) => void) | undefined
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  void exited.then((code) => onFailure(new Error(`the feed child exited early (code ${code})`)))
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    let message: { t?: string; d?: string; at?: number }
    try {
      message = JSON.parse(line)
    } catch {
      log(`feed child: ${line}`)
      return
    }
    if (message.t === "c") raw.set(message.d!, message.at!)
    else if (message.t === "ready") onReady()
    else if (message.t === "pong") pong?.(message.at!)
  })
  await ready
  let best = { rtt: Infinity, offset: 0 }
  for (let i = 0; i < 20; i++) {
    const sent = now()
    const at = await new Promise<number>((resolve) => {
      pong = resolve
      child.stdin.write("ping\n")
    })
    const back = now()
    if (back - sent < best.rtt) best = { rtt: back - sent, offset: at - (sent + back) / 2 }
  }
  return {
    receivedAt: (documentId) => {
      const at = raw.get(documentId)
      return at === undefined ? undefined : at - best.offset
    },
    note: `clock offset child-parent ${best.offset.toFixed(2)} ms (ping RTT ${best.rtt.toFixed(2)} ms), corrected`,
    stop: async () => {
      child.stdin.end()
      const timeout = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await exited
      clearTimeout(timeout)
    }
  }
}

const versionOf = (i: number) => ({ storageKey: `bench/feed/${i}/${randomUUID()}`, byteSize: 1000 + i })

const putWriter = async (runtime: StoreRuntime, workspaceId: string): Promise<Writer> => {
  const documents = await runtime.runPromise(Documents.Documents)
  return async (i) => {
    const written = await runtime.runPromise(
      documents.put({ kind: "input", workspaceId, name: `feed-${i}-${randomUUID()}.txt`, version: versionOf(i) })
    )
    return written.document.id
  }
}

/** The statements of `put` for a new input, by bare pg; with `notify`, a coalesced NOTIFY after the commit. */
const rawWriter = async (url: string, workspaceId: string, notify: boolean) => {
  const client = new pg.Client({ connectionString: url })
  const notifier = new pg.Client({ connectionString: url })
  client.on("error", () => {})
  notifier.on("error", () => {})
  await Promise.all([client.connect(), notifier.connect()])
  let inFlight = false
  let dirty = false
  const send = (): void => {
    if (inFlight) {
      dirty = true
      return
    }
    inFlight = true
    dirty = false
    notifier.query(`SELECT pg_notify($1, '1')`, [rawChannel]).catch(() => {}).finally(() => {
      inFlight = false
      if (dirty) send()
    })
  }
  const write: Writer = async (i) => {
    const name = `raw-${i}-${randomUUID()}.txt`
    const version = versionOf(i)
    const documentId = randomUUID()
    await client.query("BEGIN")
    await client.query(
      `INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
       VALUES ($1, $2, 'input', $3, $4, NULL, NULL)`,
      [documentId, workspaceId, name, name.toLowerCase()]
    )
    await client.query(
      `INSERT INTO file_versions (id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256)
       VALUES ($1, $2, 1, $3, NULL, NULL, $4, NULL)`,
      [randomUUID(), documentId, version.storageKey, version.byteSize]
    )
    await client.query("COMMIT")
    if (notify) send()
    return documentId
  }
  return {
    write,
    close: async () => {
      while (inFlight) await sleep(5)
      await Promise.all([client.end().catch(() => {}), notifier.end().catch(() => {})])
    }
  }
}

interface Latency {
  readonly sent: number
  readonly received: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly note?: string | undefined
}

/** Warm-up writes, then `liveWrites` writes 10-20 ms apart; latency = receive time - ack time. */
const measureLatency = async (receiver: Receiver, write: Writer, sizes: LiveSizes): Promise<Latency> => {
  try {
    for (let i = 0; i < sizes.warmupWrites; i++) {
      await write(-1 - i)
      await sleep(5 + Math.random() * 5)
    }
    await sleep(300)
    const acked = new Map<string, number>()
    for (let i = 0; i < sizes.writes; i++) {
      const documentId = await write(i)
      acked.set(documentId, now())
      await sleep(5 + Math.random() * 5)
    }
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && [...acked.keys()].some((id) => receiver.receivedAt(id) === undefined)) await sleep(20)
    const latencies = [...acked].flatMap(([id, at]) => {
      const got = receiver.receivedAt(id)
      return got === undefined ? [] : [got - at]
    }).sort((a, b) => a - b)
    return {
      sent: acked.size,
      received: latencies.length,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      max: latencies[latencies.length - 1] ?? NaN,
      note: receiver.note
    }
  } finally {
    await receiver.stop()
  }
}

const latencyCases = [
  { key: "inProcess", label: "DocumentChanges, same process, writes by `Documents.put`", baseline: "rawInProcess" },
  { key: "rawInProcess", label: "baseline: bare pg LISTEN + keyset reader, same process, bare pg writes + NOTIFY after COMMIT" },
  { key: "child", label: "DocumentChanges, child process, writes by `Documents.put` in this process", baseline: "rawChild" },
  { key: "rawChild", label: "baseline: bare pg LISTEN + keyset reader in a child process, bare pg writes + NOTIFY after COMMIT" },
  { key: "poll", label: "DocumentChanges, same process, raw SQL writes without NOTIFY (delivered by the 100 ms poll)" }
] as const

type LatencyKey = (typeof latencyCases)[number]["key"]
type LatencyRun = Record<LatencyKey, Latency>

const runLatencyOnce = async (
  url: string,
  runtime: StoreRuntime,
  log: (line: string) => void,
  sizes: LiveSizes
): Promise<LatencyRun> => {
  const workspaceId = randomUUID()
  const put = await putWriter(runtime, workspaceId)
  const inProcess = await measureLatency(await feedReceiver(runtime), put, sizes)
  let writer = await rawWriter(url, workspaceId, true)
  const rawInProcess = await measureLatency(await rawReceiver(url), writer.write, sizes)
  await writer.close()
  const child = await measureLatency(await childReceiver(url, "feed", log), put, sizes)
  writer = await rawWriter(url, workspaceId, true)
  const rawChild = await measureLatency(await childReceiver(url, "raw", log), writer.write, sizes)
  await writer.close()
  writer = await rawWriter(url, workspaceId, false)
  const poll = await measureLatency(await feedReceiver(runtime), writer.write, sizes)
  await writer.close()
  return { inProcess, rawInProcess, child, rawChild, poll }
}

// ---------------------------------------------------------------------------
// 3. Feed queries per second with idle subscribers
// ---------------------------------------------------------------------------

const feedQueryMarker = "FROM document_feed f"

/** Counts, client side, every query sent by any pg.Client of this process while installed. */
const installQueryCounter = () => {
  const original = pg.Client.prototype.query
  const counter = { feed: 0, all: 0 }
  pg.Client.prototype.query = function(this: pg.Client, ...args: Array<unknown>) {
    const first = args[0]
    const text = typeof first === "string" ? first : (first as { text?: unknown } | null)?.text
    counter.all++
    if (typeof text === "string" && text.includes(feedQueryMarker)) counter.feed++
    return (original as (...args: Array<unknown>) => unknown).apply(this, args)
  } as typeof original
  return { counter, uninstall: () => void (pg.Client.prototype.query = original) }
}

interface QueryRate {
  readonly feedPerSecond: number
  readonly allPerSecond: number
  readonly serverFeedPerSecond: number | null
}

const queryRate = async (url: string, subscribers: number, statements: boolean, windowMs: number): Promise<QueryRate> => {
  const runtime = ManagedRuntime.make(
    DocumentChanges.layer().pipe(Layer.provideMerge(Database.layer({ url: Redacted.make(url) })), Layer.provide(quiet))
  )
  const { counter, uninstall } = installQueryCounter()
  const fibers: Array<Fiber.RuntimeFiber<void, unknown>> = []
  try {
    const feed = await runtime.runPromise(DocumentChanges.DocumentChanges)
    let caughtUp = 0
    let allCaughtUp!: () => void
    const ready = new Promise<void>((resolve) => (allCaughtUp = resolve))
    for (let i = 0; i < subscribers; i++) {
      fibers.push(runtime.runFork(
        feed.stream({ from: "now" }).pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => {
              if (event._tag === "CaughtUp" && ++caughtUp === subscribers) allCaughtUp()
            })
          )
        )
      ))
    }
    await ready
    await sleep(500)
    const reset = statements ? withClient(url, (client) => client.query("SELECT pg_stat_statements_reset()")) : Promise.resolve()
    await reset
    const before = { ...counter }
    const started = performance.now()
    await sleep(windowMs)
    const after = { ...counter }
    const seconds = (performance.now() - started) / 1000
    let serverFeedPerSecond: number | null = null
    if (statements) {
      const calls = await withClient(url, async (client) =>
        (await client.query<{ calls: string | null }>(
          `SELECT sum(calls)::text AS calls FROM pg_stat_statements
           WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE $1`,
          [`%${feedQueryMarker}%`]
        )).rows[0]!.calls)
      serverFeedPerSecond = Number(calls ?? 0) / seconds
    }
    return {
      feedPerSecond: (after.feed - before.feed) / seconds,
      allPerSecond: (after.all - before.all) / seconds,
      serverFeedPerSecond
    }
  } finally {
    uninstall()
    await runtime.runPromise(Effect.forEach(fibers, Fiber.interrupt, { concurrency: "unbounded", discard: true }))
    await runtime.dispose()
  }
}

// ---------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------

interface QueryRun {
  readonly one: QueryRate
  readonly many: QueryRate
}

const runLive = async (serverUrl: string, runs: number, log: (line: string) => void, sizes: LiveSizes) =>
  withDatabase(serverUrl, async (url) => {
    await migrate(url)
    const preload = await withClient(url, async (client) =>
      (await client.query<{ shared_preload_libraries: string }>("SHOW shared_preload_libraries")).rows[0]!.shared_preload_libraries)
    const statements = preload.split(",").map((name) => name.trim()).includes("pg_stat_statements")
    if (statements) await withClient(url, (client) => client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    const latency: Array<LatencyRun> = []
    const queries: Array<QueryRun> = []
    for (let run = 0; run < runs; run++) {
      const runtime = storeRuntime(url)
      try {
        const result = await runLatencyOnce(url, runtime, log, sizes)
        latency.push(result)
        log(`feed latency run ${run + 1}: ` + latencyCases.map(({ key }) =>
          `${key} p50 ${ms(result[key].p50)} / p99 ${ms(result[key].p99)} / max ${ms(result[key].max)} ms (${result[key].received}/${result[key].sent})`
        ).join("; "))
      } finally {
        await runtime.dispose()
      }
      // Alternate which goes first.
      const oneFirst = run % 2 === 0
      const a = await queryRate(url, oneFirst ? 1 : sizes.subscribers, statements, sizes.queryWindowMs)
      const b = await queryRate(url, oneFirst ? sizes.subscribers : 1, statements, sizes.queryWindowMs)
      const result = oneFirst ? { one: a, many: b } : { one: b, many: a }
      queries.push(result)
      log(
        `feed queries run ${run + 1}: 1 subscriber ${result.one.feedPerSecond.toFixed(1)}/s, ` +
          `${sizes.subscribers} subscribers ${result.many.feedPerSecond.toFixed(1)}/s ` +
          `(ratio ${ratio(result.many.feedPerSecond / result.one.feedPerSecond)})`
      )
    }
    return { latency, queries, statements, preload }
  })

const formatCatchUp = (rows: number, runs: ReadonlyArray<CatchUpRun>, copyStreams: boolean) => {
  const line = (label: string, r: { stream: number; keyset: number; copy: number; sk: number; sc: number }) =>
    `| ${label} | ${int(r.stream)} | ${int(r.keyset)} | ${int(r.copy)} | ${ratio(r.sk)} | ${ratio(r.sc)} |`
  return [
    `### Catch-up: ${int(rows)} changes from "beginning"`,
    "",
    `\`document_changes\` filled with ${int(rows)} rows, ${int(chunkRows)} per transaction, then VACUUM ANALYZE. ` +
      "Stream: `stream({ from: \"beginning\" })` (default options, batchSize 1000) until `CaughtUp`, every `Change` " +
      "counted (must equal N). Keyset: bare `pg`, `SELECT ... WHERE (tx_id, id) > ($1::xid8, $2) AND tx_id < " +
      "pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx_id, id LIMIT 1000` until a short batch. COPY: " +
      "`COPY (SELECT ... ORDER BY tx_id, id) TO STDOUT`, rows counted. " +
      "What each side gets: the stream, `Change` objects (`changedAt` a `Date`, read from PostgreSQL as milliseconds) " +
      "in events whose cursor is encoded when read (the consumer here reads none); the keyset loop, pg's rows with its " +
      "default parsing (`changed_at` parsed into a `Date`, int8 as text). " +
      (copyStreams
        ? "(pg-copy-streams is installed, but the COPY is read the same way as without it.) "
        : "pg-copy-streams is not installed: the COPY data is read through pg's own copy-out hook " +
          "(`handleCopyData` of a `pg.Query` subclass, the hook pg-copy-streams uses), nothing installed. ") +
      "Stream and keyset alternate which goes first; COPY runs third. Targets: stream/keyset >= 0.8, stream/COPY >= 0.25.",
    "",
    "| run | stream rows/s | bare pg keyset rows/s | COPY rows/s | stream/keyset | stream/COPY |",
    "|---|---:|---:|---:|---:|---:|",
    ...runs.map((r, i) => line(`${i + 1} (${r.first} first)`, { ...r, sk: r.stream / r.keyset, sc: r.stream / r.copy })),
    line("**median**", {
      stream: median(runs.map((r) => r.stream)),
      keyset: median(runs.map((r) => r.keyset)),
      copy: median(runs.map((r) => r.copy)),
      sk: median(runs.map((r) => r.stream / r.keyset)),
      sc: median(runs.map((r) => r.stream / r.copy))
    })
  ].join("\n")
}

const formatLatency = (runs: ReadonlyArray<LatencyRun>, sizes: LiveSizes) => {
  const med = (key: LatencyKey, field: "p50" | "p99" | "max") => median(runs.map((r) => r[key][field]))
  const summary = latencyCases.map((c) => {
    const baseline = "baseline" in c ? c.baseline : undefined
    const received = runs.reduce((n, r) => n + r[c.key].received, 0)
    const sent = runs.reduce((n, r) => n + r[c.key].sent, 0)
    const vs = baseline === undefined
      ? "—"
      : `${ratio(median(runs.map((r) => r[c.key].p50 / r[baseline].p50)))} / ${ratio(median(runs.map((r) => r[c.key].p99 / r[baseline].p99)))}`
    return `| ${c.label} | ${ms(med(c.key, "p50"))} | ${ms(med(c.key, "p99"))} | ${ms(med(c.key, "max"))} | ${received}/${sent} | ${vs} |`
  })
  const perRun = runs.flatMap((r, i) =>
    latencyCases.map((c) =>
      `| ${i + 1} | ${c.key} | ${ms(r[c.key].p50)} | ${ms(r[c.key].p99)} | ${ms(r[c.key].max)} | ${r[c.key].received}/${r[c.key].sent} | ${r[c.key].note ?? ""} |`
    )
  )
  return [
    "### Live delivery latency (default layer options)",
    "",
    `Per run and case: ${sizes.warmupWrites} warm-up writes, then ${sizes.writes} writes of a new document (one transaction: ` +
      "`files` + `file_versions`), 5-10 ms apart, by one writer. Latency = time the subscriber received the " +
      "document's `version_added` change - time the write was acknowledged (`put` returned, or COMMIT returned for " +
      "bare pg writes), in ms, `performance.timeOrigin + performance.now()`. A child's times are moved onto the " +
      "parent's clock by the offset measured by ping/pong over its stdin/stdout. Baselines: a bare `pg` subscriber " +
      "(LISTEN on one connection; on each notification, and every 100 ms, the keyset query above from its last " +
      "position on a second connection) fed by bare `pg` writes followed by a coalesced `pg_notify` sent after the " +
      "COMMIT, as `put` does. The poll row has no baseline: its expected delay is up to the 100 ms poll interval.",
    "",
    "| case | p50 ms | p99 ms | max ms | received/sent | p50 / p99 vs baseline |",
    "|---|---:|---:|---:|---:|---:|",
    ...summary,
    "",
    "(medians over runs of each run's p50, p99 and max; the ratio is the median of the per-run ratios)",
    "",
    "| run | case | p50 ms | p99 ms | max ms | received/sent | note |",
    "|---|---|---:|---:|---:|---:|---|",
    ...perRun
  ].join("\n")
}

const formatQueries = (runs: ReadonlyArray<QueryRun>, statements: boolean, preload: string, sizes: LiveSizes) => {
  const manySubscribers = sizes.subscribers
  const server = (rate: QueryRate) => rate.serverFeedPerSecond === null ? "" : ` (server: ${rate.serverFeedPerSecond.toFixed(1)})`
  return [
    `### Feed queries per second with 1 and ${int(manySubscribers)} idle live subscribers`,
    "",
    `One process, a fresh runtime (DocumentChanges.layer() defaults, pool of 10) per measurement; all subscribers ` +
      `stream from "now"; after every one has yielded \`CaughtUp\` and 500 ms more, queries are counted for ` +
      `${sizes.queryWindowMs / 1000} s with no writes. ` +
      (statements
        ? "Counted client side (wrapping `pg.Client.prototype.query`) and on the server by pg_stat_statements. "
        : `pg_stat_statements is not loaded (shared_preload_libraries = '${preload}'), so queries are counted ` +
          "client side, by wrapping `pg.Client.prototype.query`. ") +
      `Feed queries: text containing \`${feedQueryMarker}\` (the feed read). All: every query sent. Target: ratio <= 1.1.`,
    "",
    `| run | feed q/s, 1 subscriber | feed q/s, ${int(manySubscribers)} subscribers | ratio | all q/s, 1 | all q/s, ${int(manySubscribers)} |`,
    "|---|---:|---:|---:|---:|---:|",
    ...runs.map((r, i) =>
      `| ${i + 1} | ${r.one.feedPerSecond.toFixed(1)}${server(r.one)} | ${r.many.feedPerSecond.toFixed(1)}${server(r.many)} | ` +
      `${ratio(r.many.feedPerSecond / r.one.feedPerSecond)} | ${r.one.allPerSecond.toFixed(1)} | ${r.many.allPerSecond.toFixed(1)} |`
    ),
    `| **median** | ${median(runs.map((r) => r.one.feedPerSecond)).toFixed(1)} | ${median(runs.map((r) => r.many.feedPerSecond)).toFixed(1)} | ` +
      `${ratio(median(runs.map((r) => r.many.feedPerSecond / r.one.feedPerSecond)))} | ` +
      `${median(runs.map((r) => r.one.allPerSecond)).toFixed(1)} | ${median(runs.map((r) => r.many.allPerSecond)).toFixed(1)} |`
  ].join("\n")
}

export interface FeedOptions {
  readonly serverUrl: string
  /** Changes read by the catch-up. */
  readonly changes: number
  readonly runs: number
  readonly smoke: boolean
  readonly log: (line: string) => void
}

export interface FeedResult {
  readonly markdown: string
  readonly catchUpVsKeyset: number
  readonly catchUpVsCopy: number
  readonly childP99: number
  readonly pollP99: number
  readonly subscribersRatio: number
  readonly subscribers: number
}

export const runFeedBench = async (options: FeedOptions): Promise<FeedResult> => {
  const { log, runs } = options
  const sizes: LiveSizes = options.smoke
    ? { writes: 20, warmupWrites: 2, subscribers: 20, queryWindowMs: 500 }
    : defaultLiveSizes
  const started = Date.now()
  const copyStreams = await copyStreamsInstalled()
  const catchUp = await runCatchUp(options.serverUrl, options.changes, runs, log)
  log(`feed: catch-up done (${((Date.now() - started) / 1000).toFixed(0)} s)`)
  const live = await runLive(options.serverUrl, runs, log, sizes)
  log(`feed: done (${((Date.now() - started) / 1000).toFixed(0)} s)`)
  return {
    markdown: [
      formatCatchUp(options.changes, catchUp, copyStreams),
      formatLatency(live.latency, sizes),
      formatQueries(live.queries, live.statements, live.preload, sizes)
    ].join("\n\n"),
    catchUpVsKeyset: median(catchUp.map((r) => r.stream / r.keyset)),
    catchUpVsCopy: median(catchUp.map((r) => r.stream / r.copy)),
    childP99: median(live.latency.map((r) => r.child.p99)),
    pollP99: median(live.latency.map((r) => r.poll.p99)),
    subscribersRatio: median(live.queries.map((r) => r.many.feedPerSecond / r.one.feedPerSecond)),
    subscribers: sizes.subscribers
  }
}
