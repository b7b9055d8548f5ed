/**
 * Bulk writes: N versions (half as many new documents, two versions each) in
 * one call or transaction:
 *
 * - `Documents.putMany` into the database with the change-feed triggers
 *   against a bare `pg` multi-row INSERT (`INSERT ... SELECT FROM unnest`) of
 *   the same rows into an identical database without them;
 * - the trigger cost: that bare INSERT with the triggers against without;
 * - `putMany`, and `putStream` of the same requests, against the fastest bare
 *   load measured (bench/bulkShapes.ts): `COPY` of the same rows straight into
 *   the tables, without the triggers;
 * - `putMany` against its own statements sent by bare `pg` into a database with
 *   the triggers (`bareStatements`): what the library adds to the work; and
 *   those statements against that `COPY`: the floor of putMany's ratio to it;
 * - putStream's memory: the peak heap and RSS growth of a process importing
 *   100,000 and 1,000,000 versions from a stream that makes each request as it
 *   is read (bench/streamChild.ts, in a heap of at most 128 MiB).
 *
 * Each side writes into a database of its own, so the three grow alike: the
 * version trigger's join reads `files`, and a database that also took the
 * other side's rows made its side pay for them.
 */
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Stream from "effect/Stream"
import pg from "pg"
import * as Documents from "../src/Documents.js"
import { copyInPromise as copyIn } from "../src/internal/pg/copyIn.js"
import { withClient } from "./server.js"
import { documentsRuntime, median, sidesTable, withStores } from "./stores.js"
import type { StreamReport } from "./streamChild.js"

export interface BulkOptions {
  readonly serverUrl: string
  readonly versions: number
  readonly runs: number
  /** The sizes of putStream's memory measure (default 100,000 and 1,000,000). */
  readonly streamSizes: ReadonlyArray<number>
  readonly log: (line: string) => void
}

export interface BulkRun {
  readonly service: number
  readonly bare: number
  readonly bareWithoutTriggers: number
  /** `COPY` into the tables without the triggers. */
  readonly copyWithoutTriggers: number
  /** `putStream` of the same requests. */
  readonly stream: number
  /** putMany's statements by bare `pg`, with the triggers. */
  readonly statements: number
}

export interface BulkResult {
  readonly versions: number
  readonly documents: number
  readonly runs: ReadonlyArray<BulkRun>
  readonly memory: ReadonlyArray<StreamReport>
}

type Side = keyof BulkRun

interface Batch {
  readonly requests: ReadonlyArray<Documents.PutRequest>
  readonly files: ReadonlyArray<ReadonlyArray<unknown>>
  readonly versions: ReadonlyArray<ReadonlyArray<unknown>>
}

const workspaces = Array.from({ length: 10 }, () => randomUUID())

/** The same import as requests (for the service) and as column arrays (for bare pg). */
const batch = (label: string, versions: number): Batch => {
  const documents = Math.ceil(versions / 2)
  const file = { id: [] as Array<string>, workspace: [] as Array<string>, name: [] as Array<string>, key: [] as Array<string> }
  const version = {
    id: [] as Array<string>, file: [] as Array<string>, no: [] as Array<number>, key: [] as Array<string>, size: [] as Array<string>
  }
  const requests: Array<Documents.PutRequest> = []
  for (let d = 0; d < documents; d++) {
    const workspaceId = workspaces[d % workspaces.length]!
    const name = `${label}-${d}.csv`
    const id = randomUUID()
    file.id.push(id)
    file.workspace.push(workspaceId)
    file.name.push(name)
    file.key.push(name.toLowerCase())
    for (let n = 1; n <= 2 && requests.length < versions; n++) {
      const storageKey = `bench/bulk/${label}/${d}/${n}`
      const versionId = randomUUID()
      requests.push({ kind: "input", workspaceId, name, version: { id: versionId, storageKey, byteSize: 1000 + d } })
      version.id.push(versionId)
      version.file.push(id)
      version.no.push(n)
      version.key.push(storageKey)
      version.size.push(String(1000 + d))
    }
  }
  return {
    requests,
    files: [file.id, file.workspace, file.name, file.key],
    versions: [version.id, version.file, version.no, version.key, version.size]
  }
}

/** One transaction, two COPYs straight into the tables. */
const bareCopy = async (client: pg.Client, rows: Batch) => {
  const lines = (columns: ReadonlyArray<ReadonlyArray<unknown>>, fixed: (i: number) => string) =>
    function*() {
      for (let i = 0; i < columns[0]!.length; i++) yield `${fixed(i)}${columns.map((column) => column[i]).join("\t")}\n`
    }
  await client.query("BEGIN")
  await copyIn(client, "COPY files (kind, id, workspace_id, name, name_key) FROM STDIN", lines(rows.files, () => "input\t"))
  await copyIn(client, "COPY file_versions (id, file_id, version_no, storage_key, byte_size) FROM STDIN", lines(rows.versions, () => ""))
  await client.query("COMMIT")
}

/** putMany's statements for the documents, as bulkLoad.ts sends them (bench/upsertShapes.ts takes them apart). */
export const putManyStatements = {
  temporaryTable: `
    CREATE TEMP TABLE docstore_put_files
      (ord int, id uuid, workspace_id uuid, kind text, name text, name_key text, source_file_id uuid, run_id uuid)
    ON COMMIT DROP`,
  upsert: `
    WITH upserted AS (
      INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
      SELECT id, workspace_id, kind, name, name_key, source_file_id, run_id FROM docstore_put_files ORDER BY ord
      ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()
      RETURNING id, workspace_id, kind, name_key, xmax <> 0 AS existed
    )
    SELECT id, workspace_id, kind, name_key FROM upserted WHERE existed`
}

/**
 * putMany's statements (src/internal/documents/bulkLoad.ts, without tenant isolation) in one transaction, by
 * bare `pg`: the documents in putMany's key order by `COPY` into a temporary table and one upsert, the
 * versions by `COPY` into their table (the eight columns putMany sends, nulls as `\N`).
 */
const bareStatements = async (client: pg.Client, rows: Batch) => {
  const [ids, workspaces, names, keys] = rows.files as ReadonlyArray<ReadonlyArray<string>>
  const [versionIds, files, numbers, storageKeys, sizes] = rows.versions
  // The keys built once, as putMany builds them, and sorted as it sorts them (by UTF-16 code units).
  const keyOf = ids!.map((_, i) => `${workspaces![i]}/input/${keys![i]}`)
  const order = ids!.map((_, i) => i).sort((a, b) => keyOf[a]! < keyOf[b]! ? -1 : keyOf[a]! > keyOf[b]! ? 1 : 0)
  await client.query("BEGIN")
  await client.query(putManyStatements.temporaryTable)
  await copyIn(client, "COPY docstore_put_files FROM STDIN", function*() {
    for (const [ord, i] of order.entries()) {
      yield `${ord}\t${ids![i]}\t${workspaces![i]}\tinput\t${names![i]}\t${keys![i]}\t\\N\t\\N\n`
    }
  })
  await client.query(putManyStatements.upsert)
  await client.query("DROP TABLE docstore_put_files")
  await copyIn(
    client,
    "COPY file_versions (id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256) FROM STDIN",
    function*() {
      for (let i = 0; i < versionIds!.length; i++) {
        yield `${versionIds![i]}\t${files![i]}\t${numbers![i]}\t${storageKeys![i]}\t\\N\t\\N\t${sizes![i]}\t\\N\n`
      }
    }
  )
  await client.query("COMMIT")
}

/** One transaction, two multi-row INSERTs. */
const bareInsert = async (client: pg.Client, rows: Batch) => {
  await client.query("BEGIN")
  await client.query(
    `INSERT INTO files (id, workspace_id, kind, name, name_key)
     SELECT id, workspace_id, 'input', name, name_key
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS t(id, workspace_id, name, name_key)`,
    rows.files as Array<unknown>
  )
  await client.query(
    `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::bigint[])`,
    rows.versions as Array<unknown>
  )
  await client.query("COMMIT")
}

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "streamChild.ts")

/** One import by bench/streamChild.ts in a process of its own, its heap capped at 128 MiB. */
const streamChild = (url: string, versions: number): Promise<StreamReport> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--max-old-space-size=128", "--import", "tsx", childScript, url, String(versions)], {
      cwd: path.dirname(path.dirname(childScript)),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.once("error", reject)
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`bench/streamChild.ts exited with ${code}:\n${stderr.trim()}`))
      resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as StreamReport)
    })
  })

export const runBulkBench = (options: BulkOptions): Promise<BulkResult> =>
  withStores(options.serverUrl, "bench_bulk_service", ({ withTriggers: serviceStore, withoutTriggers: copyStore }) =>
    withStores(options.serverUrl, "bench_bulk_stream", ({ withTriggers: streamStore }) =>
      withStores(options.serverUrl, "bench_bulk_statements", ({ withTriggers: statementsStore }) =>
        withStores(options.serverUrl, "bench_bulk", async (stores) => {
          const result = await measure(options, serviceStore, copyStore, streamStore, statementsStore, stores)
          const memory: Array<StreamReport> = []
          for (const size of options.streamSizes) {
            const report = await streamChild(streamStore, size)
            options.log(
              `putStream of ${size} versions in a process of its own: ${report.versionsPerSecond.toFixed(0)} versions/s, ` +
                `peak heap growth ${mib(report.heapPeakBytes - report.heapBeforeBytes)} MiB, ` +
                `peak RSS growth ${mib(report.rssPeakBytes - report.rssBeforeBytes)} MiB`
            )
            memory.push(report)
          }
          return { ...result, memory }
        })
      )
    )
  )

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

const measure = async (
  options: BulkOptions,
  serviceStore: string,
  copyStore: string,
  streamStore: string,
  statementsStore: string,
  { withTriggers, withoutTriggers }: { readonly withTriggers: string; readonly withoutTriggers: string }
): Promise<Omit<BulkResult, "memory">> => {
  const { log, versions } = options
  const runtime = documentsRuntime(serviceStore, 2)
  const streamRuntime = documentsRuntime(streamStore, 2)
  const clients = [
    new pg.Client({ connectionString: withTriggers }),
    new pg.Client({ connectionString: withoutTriggers }),
    new pg.Client({ connectionString: copyStore }),
    new pg.Client({ connectionString: statementsStore })
  ] as const
  try {
    await Promise.all(clients.map((client) => client.connect()))
    const documents = await runtime.runPromise(Documents.Documents)
    const streamDocuments = await streamRuntime.runPromise(Documents.Documents)
    const sides: Record<Side, (rows: Batch) => Promise<unknown>> = {
      service: (rows) => runtime.runPromise(documents.putMany(rows.requests)),
      stream: (rows) => streamRuntime.runPromise(streamDocuments.putStream(Stream.fromIterable(rows.requests))),
      bare: (rows) => bareInsert(clients[0], rows),
      bareWithoutTriggers: (rows) => bareInsert(clients[1], rows),
      copyWithoutTriggers: (rows) => bareCopy(clients[2], rows),
      statements: (rows) => bareStatements(clients[3], rows)
    }
    const order: ReadonlyArray<Side> = ["service", "stream", "bare", "bareWithoutTriggers", "copyWithoutTriggers", "statements"]
    const databases: Record<Side, string> = {
      service: serviceStore,
      stream: streamStore,
      bare: withTriggers,
      bareWithoutTriggers: withoutTriggers,
      copyWithoutTriggers: copyStore,
      statements: statementsStore
    }
    const timed = async (side: Side, rows: Batch) => {
      const started = performance.now()
      await sides[side](rows)
      const rate = versions / ((performance.now() - started) / 1000)
      // Outside the timing: otherwise autovacuum takes up the rows a side wrote (once a minute per database)
      // while another side is timed, on a machine of two cores.
      await withClient(databases[side], (client) => client.query("VACUUM ANALYZE"))
      return rate
    }
    for (const side of order) await timed(side, batch(`warm-${side}`, Math.min(versions, 5_000)))
    const runs: Array<BulkRun> = []
    for (let run = 0; run < options.runs; run++) {
      const rotated = [...order.slice(run % order.length), ...order.slice(0, run % order.length)]
      const result = {} as Record<Side, number>
      for (const side of rotated) {
        const rows = batch(`run${run}-${side}`, versions)
        result[side] = await timed(side, rows)
      }
      runs.push(result)
      log(
        `bulk run ${run + 1}: putMany ${result.service.toFixed(0)} versions/s, bare INSERT ${result.bare.toFixed(0)}/s, ` +
          `bare INSERT without change-feed triggers ${result.bareWithoutTriggers.toFixed(0)}/s, ` +
          `COPY without change-feed triggers ${result.copyWithoutTriggers.toFixed(0)}/s, putStream ${result.stream.toFixed(0)}/s, ` +
          `putMany's statements by bare pg ${result.statements.toFixed(0)}/s`
      )
    }
    return { versions, documents: Math.ceil(versions / 2), runs }
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => {})))
    await runtime.dispose()
    await streamRuntime.dispose()
  }
}

export const serviceRatio = (run: BulkRun) => run.service / run.bareWithoutTriggers
export const triggerRatio = (run: BulkRun) => run.bare / run.bareWithoutTriggers
export const copyRatio = (run: BulkRun) => run.service / run.copyWithoutTriggers
export const streamCopyRatio = (run: BulkRun) => run.stream / run.copyWithoutTriggers
export const statementsRatio = (run: BulkRun) => run.service / run.statements
export const statementsFloor = (run: BulkRun) => run.statements / run.copyWithoutTriggers

/** Peak heap growth of the largest putStream measured over that of the smallest. */
export const streamHeapGrowth = (result: BulkResult) => {
  // At least 1 MiB: a small import (the smoke size) may grow the heap by nothing the sampler sees.
  const growth = (report: StreamReport) => Math.max(report.heapPeakBytes - report.heapBeforeBytes, 1024 * 1024)
  return growth(result.memory.at(-1)!) / growth(result.memory[0]!)
}

export const formatBulk = (result: BulkResult) =>
  [
    `${result.versions.toLocaleString("en-US")} versions of ${result.documents.toLocaleString("en-US")} new documents ` +
    "(two each, ten workspaces) per side per run, one call or one transaction each.",
    "",
    ...sidesTable(
      [
        "putMany, versions/s",
        "bare INSERT with triggers, versions/s",
        "bare INSERT without change-feed triggers, versions/s",
        "putMany / bare without triggers (target >= 0.85)",
        "with / without triggers (target >= 0.9)"
      ],
      result.runs,
      serviceRatio,
      triggerRatio
    ),
    "",
    "Against the fastest bare load (bench/bulkShapes.ts measured COPY, unnest and COPY via temporary tables): " +
    "`COPY` of the same rows straight into `files` and `file_versions`, one transaction, into a database without " +
    "the change-feed triggers (text format, sent through pg's copy-in messages in 64 kB chunks).",
    "",
    "| run | putMany, versions/s | putStream, versions/s | COPY without change-feed triggers, versions/s | " +
    "putMany / COPY (target >= 0.85) | putStream / COPY (target >= 0.85) |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.runs.map((run, i) =>
      `| ${i + 1} | ${run.service.toFixed(0)} | ${run.stream.toFixed(0)} | ${run.copyWithoutTriggers.toFixed(0)} | ` +
      `${copyRatio(run).toFixed(2)} | ${streamCopyRatio(run).toFixed(2)} |`
    ),
    `| **median** | ${median(result.runs.map((r) => r.service)).toFixed(0)} | ${median(result.runs.map((r) => r.stream)).toFixed(0)} | ` +
    `${median(result.runs.map((r) => r.copyWithoutTriggers)).toFixed(0)} | ${median(result.runs.map(copyRatio)).toFixed(2)} | ` +
    `${median(result.runs.map(streamCopyRatio)).toFixed(2)} |`,
    "",
    "Against putMany's own statements sent by bare `pg` (the documents by `COPY` into a temporary table and one " +
    "upsert in key order, the versions by `COPY` into their table) into a database with the triggers: what the " +
    "library adds to that work; and those statements against the `COPY` above, the floor of putMany / COPY (the " +
    "upsert and the change rows are work the `COPY` without triggers does not do).",
    "",
    "| run | putMany, versions/s | putMany's statements by bare pg, versions/s | putMany / its statements (target >= 0.9) | " +
    "floor: its statements / COPY without triggers |",
    "| ---: | ---: | ---: | ---: | ---: |",
    ...result.runs.map((run, i) =>
      `| ${i + 1} | ${run.service.toFixed(0)} | ${run.statements.toFixed(0)} | ${statementsRatio(run).toFixed(2)} | ` +
      `${statementsFloor(run).toFixed(2)} |`
    ),
    `| **median** | ${median(result.runs.map((r) => r.service)).toFixed(0)} | ${median(result.runs.map((r) => r.statements)).toFixed(0)} | ` +
    `${median(result.runs.map(statementsRatio)).toFixed(2)} | ${median(result.runs.map(statementsFloor)).toFixed(2)} |`,
    "",
    "putStream's memory: a process of its own (bench/streamChild.ts, `--max-old-space-size=128`) imports from a " +
    "stream that makes each request as it is read; growth is the peak during the import (sampled every 10 ms) " +
    "over the process's heap and RSS just before it.",
    "",
    "| versions | versions/s | peak heap growth, MiB | peak RSS growth, MiB |",
    "| ---: | ---: | ---: | ---: |",
    ...result.memory.map((report) =>
      `| ${report.versions.toLocaleString("en-US")} | ${report.versionsPerSecond.toFixed(0)} | ` +
      `${mib(report.heapPeakBytes - report.heapBeforeBytes)} | ${mib(report.rssPeakBytes - report.rssBeforeBytes)} |`
    )
  ].join("\n")
