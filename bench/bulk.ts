/**
 * Bulk writes: N versions (half as many new documents, two versions each) in
 * one call or transaction:
 *
 * - `Documents.putMany` into the database with the change-feed triggers
 *   against a bare `pg` multi-row INSERT (`INSERT ... SELECT FROM unnest`) of
 *   the same rows into an identical database without them;
 * - the trigger cost: that bare INSERT with the triggers against without;
 * - `putMany` against the fastest bare load measured (bench/bulkShapes.ts):
 *   `COPY` of the same rows straight into the tables, without the triggers.
 *
 * Each side writes into a database of its own, so the three grow alike: the
 * version trigger's join reads `files`, and a database that also took the
 * other side's rows made its side pay for them.
 */
import { randomUUID } from "node:crypto"
import pg from "pg"
import * as Documents from "../src/Documents.js"
import { copyInPromise as copyIn } from "../src/internal/pg/copyIn.js"
import { documentsRuntime, median, sidesTable, withStores } from "./stores.js"

export interface BulkOptions {
  readonly serverUrl: string
  readonly versions: number
  readonly runs: number
  readonly log: (line: string) => void
}

export interface BulkRun {
  readonly service: number
  readonly bare: number
  readonly bareWithoutTriggers: number
  /** `COPY` into the tables without the triggers. */
  readonly copyWithoutTriggers: number
}

export interface BulkResult {
  readonly versions: number
  readonly documents: number
  readonly runs: ReadonlyArray<BulkRun>
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

export const runBulkBench = (options: BulkOptions): Promise<BulkResult> =>
  withStores(options.serverUrl, "bench_bulk_service", ({ withTriggers: serviceStore, withoutTriggers: copyStore }) =>
    withStores(options.serverUrl, "bench_bulk", (stores) => measure(options, serviceStore, copyStore, stores))
  )

const measure = async (
  options: BulkOptions,
  serviceStore: string,
  copyStore: string,
  { withTriggers, withoutTriggers }: { readonly withTriggers: string; readonly withoutTriggers: string }
): Promise<BulkResult> => {
  const { log, versions } = options
  const runtime = documentsRuntime(serviceStore, 2)
  const clients = [
    new pg.Client({ connectionString: withTriggers }),
    new pg.Client({ connectionString: withoutTriggers }),
    new pg.Client({ connectionString: copyStore })
  ] as const
  try {
    await Promise.all(clients.map((client) => client.connect()))
    const documents = await runtime.runPromise(Documents.Documents)
    const sides: Record<Side, (rows: Batch) => Promise<unknown>> = {
      service: (rows) => runtime.runPromise(documents.putMany(rows.requests)),
      bare: (rows) => bareInsert(clients[0], rows),
      bareWithoutTriggers: (rows) => bareInsert(clients[1], rows),
      copyWithoutTriggers: (rows) => bareCopy(clients[2], rows)
    }
    const order: ReadonlyArray<Side> = ["service", "bare", "bareWithoutTriggers", "copyWithoutTriggers"]
    const timed = async (side: Side, rows: Batch) => {
      const started = performance.now()
      await sides[side](rows)
      return versions / ((performance.now() - started) / 1000)
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
          `COPY without change-feed triggers ${result.copyWithoutTriggers.toFixed(0)}/s`
      )
    }
    return { versions, documents: Math.ceil(versions / 2), runs }
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => {})))
    await runtime.dispose()
  }
}

export const serviceRatio = (run: BulkRun) => run.service / run.bareWithoutTriggers
export const triggerRatio = (run: BulkRun) => run.bare / run.bareWithoutTriggers
export const copyRatio = (run: BulkRun) => run.service / run.copyWithoutTriggers

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
    "| run | putMany, versions/s | COPY without change-feed triggers, versions/s | putMany / COPY (target >= 0.85) |",
    "| ---: | ---: | ---: | ---: |",
    ...result.runs.map((run, i) => `| ${i + 1} | ${run.service.toFixed(0)} | ${run.copyWithoutTriggers.toFixed(0)} | ${copyRatio(run).toFixed(2)} |`),
    `| **median** | ${median(result.runs.map((r) => r.service)).toFixed(0)} | ` +
    `${median(result.runs.map((r) => r.copyWithoutTriggers)).toFixed(0)} | ${median(result.runs.map(copyRatio)).toFixed(2)} |`
  ].join("\n")
