/**
 * The migration benchmark: the real migration (0001 adopt + 0002 + 0003 via
 * Migrations.run, in a child process) against the same transformation in
 * plain SQL (bench/plainSql.ts), on copies of one generated legacy database
 * (bench/legacyData.ts), at two sizes.
 *
 * For each size: one legacy database is built and used as a TEMPLATE; each run
 * copies it twice (CREATE DATABASE ... TEMPLATE), migrates one copy with the
 * real migration and the other with plain SQL (the order alternates between
 * runs; each copy is made just before its side runs, after a CHECKPOINT),
 * checks the row counts, and drops each copy as soon as it is checked.
 * The child's peak RSS is the migration's memory figure.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import type pg from "pg"
import legacyBaseline from "../migrations/0001_legacy_baseline.js"
import * as Database from "../src/Database.js"
import { fillLegacyData, type LegacyDataSummary } from "./legacyData.js"
import type { ChildReport } from "./migrateChild.js"
import { type PlainSqlReport, runPlainSql } from "./plainSql.js"
import {
  createDatabase,
  databaseUrl,
  dropDatabase,
  uniqueName,
  withClient,
  withServer
} from "./server.js"

export interface MigrationBenchOptions {
  /** Documents of the large size; the small size is a tenth of it. */
  readonly documents: number
  /** Runs per size (default 3); medians are reported. */
  readonly runs?: number | undefined
  readonly log?: ((line: string) => void) | undefined
  /** A server URL to use (databases are created and dropped on it); without it, see bench/server.ts. */
  readonly url?: string | undefined
}

export interface MigrationRun {
  readonly migrationMs: number
  readonly plainSqlMs: number
  /** migrationMs / plainSqlMs */
  readonly ratio: number
  /** Peak RSS of the migrating process. */
  readonly maxRssMb: number
  /** RSS of the migrating process once loaded and connected, before the migration. */
  readonly rssBeforeMb: number
  /** Duration of each migration step (0001, 0002, 0003) as Migrations.run reports it. */
  readonly steps: Readonly<Record<string, number>>
  /** Phases inside 0002, from the times of its log lines (approximate: they include what runs between logs). */
  readonly phases: Readonly<Record<string, number>>
  readonly plainSteps: Readonly<Record<string, number>>
  readonly logs: ReadonlyArray<string>
  readonly migrationFirst: boolean
}

export interface MigrationSize {
  readonly documents: number
  readonly data: LegacyDataSummary
  readonly databaseMb: number
  readonly runs: ReadonlyArray<MigrationRun>
  /** Whether the plain SQL reached the same data and schema as the migration (first run). */
  readonly sameResult: { readonly data: boolean; readonly schema: boolean; readonly differences: ReadonlyArray<string> }
}

export interface MigrationBenchResult {
  readonly runs: number
  readonly sizes: ReadonlyArray<MigrationSize>
}

const benchDirectory = path.dirname(fileURLToPath(import.meta.url))
const projectDirectory = path.dirname(benchDirectory)
const childScript = path.join(benchDirectory, "migrateChild.ts")

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Creates an empty database holding the legacy schema as 0001 creates it, with nothing recorded by the Migrator. */
const createLegacyDatabase = async (serverUrl: string, name: string): Promise<string> => {
  await createDatabase(serverUrl, name)
  const url = databaseUrl(serverUrl, name)
  await Effect.runPromise(
    SqlClient.SqlClient.pipe(
      Effect.flatMap((sql) => sql.withTransaction(legacyBaseline)),
      Effect.provide(Database.layer({ url: Redacted.make(url), maxConnections: 1 })),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  )
  return url
}

const runChild = (url: string, log: (line: string) => void): Promise<ChildReport> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", childScript, url], {
      cwd: projectDirectory,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let pending = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
      pending += chunk
      const lines = pending.split("\n")
      pending = lines.pop()!
      for (const line of lines) log(`      ${line}`)
    })
    child.once("error", reject)
    child.once("close", (code) => {
      if (pending) log(`      ${pending}`)
      if (code !== 0) {
        reject(new Error(`the migrating process exited with ${code}:\n${stderr.trim()}`))
        return
      }
      try {
        resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildReport)
      } catch (error) {
        reject(new Error(`unreadable report from the migrating process: ${stdout}\n${String(error)}`))
      }
    })
  })

const count = async (client: pg.Client, query: string): Promise<number> => {
  const row = (await client.query<{ n: string }>(query)).rows[0]!
  return Number(row.n)
}

/** Fails loudly unless every file and version is still there and the new feed has one `created` change per file. */
const checkCounts = async (client: pg.Client, data: LegacyDataSummary, what: string) => {
  const files = await count(client, "SELECT count(*) AS n FROM files")
  const versions = await count(client, "SELECT count(*) AS n FROM file_versions")
  const changes = await count(client, "SELECT count(*) AS n FROM document_changes")
  const changedDocuments = await count(
    client,
    "SELECT count(DISTINCT document_id) AS n FROM document_changes WHERE op = 'created'"
  )
  const problems: Array<string> = []
  if (files !== data.files) problems.push(`files: ${files}, expected ${data.files}`)
  if (versions !== data.versions) problems.push(`file_versions: ${versions}, expected ${data.versions}`)
  if (changes !== data.files || changedDocuments !== data.files) {
    problems.push(
      `document_changes: ${changes} rows for ${changedDocuments} documents, expected one per file (${data.files})`
    )
  }
  if (problems.length > 0) throw new Error(`${what} lost or added rows: ${problems.join("; ")}`)
}

// Order-independent fingerprints of the migrated data (feed rows without their tx_id and time).
const fingerprintQueries = {
  files: `SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(
            row(id, workspace_id, kind, name, name_key, source_file_id, run_id, created_at, updated_at)::text, 0
          )::numeric), 0)::text AS n FROM files`,
  file_versions: `SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(
            row(id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256,
                created_at)::text, 0)::numeric), 0)::text AS n FROM file_versions`,
  document_changes: `SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(
            row(id, workspace_id, document_id, kind, op, version_no)::text, 0)::numeric), 0)::text AS n
          FROM document_changes`
}

const fingerprints = async (client: pg.Client) => {
  const result: Record<string, string> = {}
  for (const [table, query] of Object.entries(fingerprintQueries)) {
    result[table] = (await client.query<{ n: string }>(query)).rows[0]!.n
  }
  return result
}

// The schema, one line per column, constraint, index, trigger and function (the Migrator's table left out).
const schemaLines = async (client: pg.Client): Promise<Array<string>> => {
  const rows = await client.query<{ line: string }>(`
    SELECT 'table ' || c.relname || ' column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
           || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') AS line
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relkind = 'r' AND c.relname <> 'effect_sql_migrations'
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid <> 0
      AND conrelid::regclass::text <> 'effect_sql_migrations'
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'effect_sql_migrations'
    UNION ALL
    SELECT 'trigger ' || tgrelid::regclass::text || ' ' || pg_get_triggerdef(oid) || ' ' || tgenabled::text
    FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'function ' || p.proname || ' md5 ' || md5(regexp_replace(p.prosrc, '\\s+', ' ', 'g'))
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'sequence ' || sequencename || ' last ' || coalesce(last_value::text, 'none')
    FROM pg_sequences WHERE schemaname = 'public'`)
  return rows.rows.map((row) => row.line).sort()
}

interface EndState {
  readonly data: Record<string, string>
  readonly schema: ReadonlyArray<string>
}

const endState = async (client: pg.Client): Promise<EndState> => ({
  data: await fingerprints(client),
  schema: await schemaLines(client)
})

const compareResults = (migrated: EndState, plain: EndState) => {
  const dataDifferences = Object.keys(migrated.data)
    .filter((table) => migrated.data[table] !== plain.data[table])
    .map((table) => `data of ${table} differs`)
  const plainSchema = new Set(plain.schema)
  const migratedSchema = new Set(migrated.schema)
  const schemaDifferences = [
    ...migrated.schema.filter((line) => !plainSchema.has(line)).map((line) => `only after the migration: ${line}`),
    ...plain.schema.filter((line) => !migratedSchema.has(line)).map((line) => `only after plain SQL: ${line}`)
  ]
  return {
    data: dataDifferences.length === 0,
    schema: schemaDifferences.length === 0,
    differences: [...dataDifferences, ...schemaDifferences]
  }
}

const checkpoint = async (serverUrl: string, log: (line: string) => void) => {
  await withClient(serverUrl, (client) => client.query("CHECKPOINT")).catch((error) =>
    log(`    (CHECKPOINT refused: ${String((error as Error).message)}; continuing without)`)
  )
}

// Phases of 0002 from the times of its log lines: the end of the drops, renames and the pass in TypeScript over
// every file (keys and content types into a scratch table; its last progress line), the UPDATE of files (kinds,
// name keys) with its constraints, the UPDATE of file_versions; what is left is the content-type triggers, the
// CHECK constraints and ANALYZE.
const phasesOf = (report: ChildReport): Record<string, number> => {
  const at = (prefix: string, last = false) => {
    const matching = report.logs.filter((entry) => entry.message.startsWith(prefix))
    return (last ? matching.at(-1) : matching[0])?.atMs
  }
  const step = (key: string) => report.steps.find((s) => s.migration === key)?.millis ?? 0
  const start0002 = step("0001_legacy_baseline")
  const end0002 = start0002 + step("0002_simplify_files")
  const pass = at("files:", true)
  const keys = at("name_key:")
  const versions = at("storage_version_id:")
  if (pass === undefined || keys === undefined || versions === undefined) return {}
  return {
    "0002 drops, renames, pass in TypeScript (keys, content types)": pass - start0002,
    "0002 UPDATE of files (kinds, name keys) + constraints": keys - pass,
    "0002 UPDATE of file_versions (storage ids, content types, checksums)": versions - keys,
    "0002 content-type triggers, checks, ANALYZE": Math.max(0, end0002 - versions)
  }
}

/**
 * One run: each side gets a fresh copy of the template just before it starts, and its copy is dropped as soon
 * as it is checked, so that autovacuum cleaning up one side's dead rows never competes with the other side.
 */
const runOnce = async (
  serverUrl: string,
  template: string,
  data: LegacyDataSummary,
  index: number,
  compare: boolean,
  log: (line: string) => void
) => {
  const migrated = uniqueName("bench_migrate")
  const plain = uniqueName("bench_plain")
  const migratedUrl = databaseUrl(serverUrl, migrated)
  const plainUrl = databaseUrl(serverUrl, plain)
  const copy = async (name: string) => {
    const at = Date.now()
    await createDatabase(serverUrl, name, template)
    log(`    copied the template to ${name} (${((Date.now() - at) / 1000).toFixed(1)} s)`)
    await checkpoint(serverUrl, log)
  }
  try {
    let child: ChildReport | undefined
    let plainReport: PlainSqlReport | undefined
    let migratedState: EndState | undefined
    let plainState: EndState | undefined
    const migrate = async () => {
      await copy(migrated)
      log("    real migration (child process):")
      child = await runChild(migratedUrl, log)
      log(`    real migration: ${(child.elapsedMs / 1000).toFixed(2)} s, peak RSS ${(child.maxRssKb / 1024).toFixed(0)} MB`)
      await withClient(migratedUrl, async (client) => {
        await checkCounts(client, data, "the real migration")
        if (compare) migratedState = await endState(client)
      })
      await dropDatabase(serverUrl, migrated)
    }
    const plainSql = async () => {
      await copy(plain)
      plainReport = await withClient(plainUrl, runPlainSql)
      log(`    plain SQL: ${(plainReport.elapsedMs / 1000).toFixed(2)} s`)
      await withClient(plainUrl, async (client) => {
        await checkCounts(client, data, "the plain SQL")
        if (compare) plainState = await endState(client)
      })
      await dropDatabase(serverUrl, plain)
    }
    const migrationFirst = index % 2 === 0
    if (migrationFirst) {
      await migrate()
      await plainSql()
    } else {
      await plainSql()
      await migrate()
    }
    const sameResult = migratedState && plainState ? compareResults(migratedState, plainState) : undefined
    const report = child!
    const plainDone = plainReport!
    const run: MigrationRun = {
      migrationMs: report.elapsedMs,
      plainSqlMs: plainDone.elapsedMs,
      ratio: report.elapsedMs / plainDone.elapsedMs,
      maxRssMb: report.maxRssKb / 1024,
      rssBeforeMb: report.rssBeforeBytes / 1024 / 1024,
      steps: Object.fromEntries(report.steps.map((step) => [step.migration, step.millis])),
      phases: phasesOf(report),
      plainSteps: Object.fromEntries(plainDone.steps.map((step) => [step.label, step.millis])),
      logs: report.logs.map((entry) => entry.message),
      migrationFirst
    }
    return { run, sameResult }
  } finally {
    await dropDatabase(serverUrl, migrated)
    await dropDatabase(serverUrl, plain)
  }
}

const benchSize = async (
  serverUrl: string,
  documents: number,
  runs: number,
  log: (line: string) => void
): Promise<MigrationSize> => {
  const template = uniqueName("bench_legacy")
  log(`${documents.toLocaleString("en-US")} documents: generating the legacy template database ${template}`)
  try {
    const templateUrl = await createLegacyDatabase(serverUrl, template)
    const data = await withClient(templateUrl, (client) => fillLegacyData(client, { documents, log }))
    const databaseMb = await withClient(
      serverUrl,
      async (client) =>
        Number((await client.query<{ n: string }>("SELECT pg_database_size($1) AS n", [template])).rows[0]!.n) /
        1024 / 1024
    )
    log(
      `  generated ${data.files} documents, ${data.versions} versions (${databaseMb.toFixed(0)} MB) in ` +
        `${(data.millis / 1000).toFixed(1)} s`
    )
    const results: Array<MigrationRun> = []
    let sameResult: MigrationSize["sameResult"] | undefined
    for (let index = 0; index < runs; index++) {
      log(`  run ${index + 1} of ${runs}`)
      const { run, sameResult: compared } = await runOnce(serverUrl, template, data, index, index === 0, log)
      if (compared) {
        sameResult = compared
        log(
          `    plain SQL vs migration: data ${compared.data ? "identical" : "DIFFERENT"}, ` +
            `schema ${compared.schema ? "identical" : "DIFFERENT"}`
        )
        for (const difference of compared.differences.slice(0, 20)) log(`      ${difference}`)
      }
      log(`    ratio migration / plain SQL: ${run.ratio.toFixed(2)}`)
      results.push(run)
    }
    return { documents, data, databaseMb, runs: results, sameResult: sameResult! }
  } finally {
    await dropDatabase(serverUrl, template)
  }
}

/** Runs the benchmark at `documents / 10` and at `documents` documents. */
export const runMigrationBench = async (options: MigrationBenchOptions): Promise<MigrationBenchResult> => {
  const log = options.log ?? (() => {})
  const runs = options.runs ?? 3
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer, got ${runs}`)
  const sizes = [Math.floor(options.documents / 10), Math.floor(options.documents)]
  const body = async (url: string) => {
    const results: Array<MigrationSize> = []
    for (const documents of sizes) results.push(await benchSize(url, documents, runs, log))
    return { runs, sizes: results }
  }
  return options.url ? body(options.url) : withServer(log, (server) => body(server.url))
}

// ---------------------------------------------------------------------------------------------
// Reporting

const seconds = (millis: number) => (millis / 1000).toFixed(2)
const mb = (value: number) => value.toFixed(0)
const number = (value: number) => value.toLocaleString("en-US")

const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`

// The migration's log without its progress lines ("files: 100000 documents keyed"), the last one kept.
const loggedLines = (logs: ReadonlyArray<string>): Array<string> => {
  const progress = /^[\w ]+: \d+ documents keyed$/
  const lastProgress = logs.reduce((last, line, index) => (progress.test(line) ? index : last), -1)
  return logs.filter((line, index) => !progress.test(line) || index === lastProgress)
}

/** One markdown table per size plus a summary table. */
export const formatMigrationBench = (result: MigrationBenchResult): string => {
  const lines: Array<string> = []
  lines.push("Summary (medians; the ratio is the median of each run's ratio):", "")
  lines.push(row([
    "documents",
    "versions",
    "database",
    "generate",
    "real migration",
    "plain SQL",
    "ratio migration / plain SQL",
    "peak RSS of the migrating process"
  ]))
  lines.push(row(["---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]))
  for (const size of result.sizes) {
    lines.push(row([
      number(size.data.files),
      number(size.data.versions),
      `${mb(size.databaseMb)} MB`,
      `${seconds(size.data.millis)} s`,
      `${seconds(median(size.runs.map((r) => r.migrationMs)))} s`,
      `${seconds(median(size.runs.map((r) => r.plainSqlMs)))} s`,
      median(size.runs.map((r) => r.ratio)).toFixed(2),
      `${mb(median(size.runs.map((r) => r.maxRssMb)))} MB`
    ]))
  }
  for (const size of result.sizes) {
    lines.push("", `#### ${number(size.data.files)} documents, ${number(size.data.versions)} versions`, "")
    const d = size.data
    lines.push(
      `Generated data: ${d.workspaces} workspaces, ${number(d.inputs)} inputs (${number(d.collidingInputs)} named ` +
        `like another input of their workspace up to normalisation), ${number(d.outputs)} outputs ` +
        `(${number(d.outputsWithoutInput)} without their input, ${number(d.outputsWithNeither)} with neither input ` +
        `nor run), ${number(d.blankBlobVersionIds)} blank blob_version_id, ` +
        `${number(d.outputVersionsWithoutContentType)} output versions without content type.`,
      ""
    )
    const header = ["measure", "median", ...size.runs.map((_, i) => `run ${i + 1}`)]
    lines.push(row(header), row(header.map((_, i) => (i === 0 ? "---" : "---:"))))
    const metric = (label: string, values: ReadonlyArray<number>, format: (value: number) => string) =>
      lines.push(row([label, format(median(values)), ...values.map(format)]))
    const s = (value: number) => `${seconds(value)} s`
    metric("real migration, total", size.runs.map((r) => r.migrationMs), s)
    for (const key of Object.keys(size.runs[0]!.steps)) {
      metric(`&nbsp;&nbsp;${key}`, size.runs.map((r) => r.steps[key] ?? 0), s)
    }
    for (const key of Object.keys(size.runs[0]!.phases)) {
      metric(`&nbsp;&nbsp;&nbsp;&nbsp;≈ ${key}`, size.runs.map((r) => r.phases[key] ?? 0), s)
    }
    metric("plain SQL, total", size.runs.map((r) => r.plainSqlMs), s)
    for (const key of Object.keys(size.runs[0]!.plainSteps)) {
      metric(`&nbsp;&nbsp;${key}`, size.runs.map((r) => r.plainSteps[key] ?? 0), s)
    }
    metric("ratio migration / plain SQL", size.runs.map((r) => r.ratio), (v) => v.toFixed(2))
    metric("peak RSS of the migrating process", size.runs.map((r) => r.maxRssMb), (v) => `${mb(v)} MB`)
    metric("RSS of that process before migrating", size.runs.map((r) => r.rssBeforeMb), (v) => `${mb(v)} MB`)
    lines.push(
      "",
      `Run order: ${size.runs.map((r, i) => `run ${i + 1} ${r.migrationFirst ? "migration first" : "plain SQL first"}`).join(", ")}. ` +
        `Plain SQL reached ${size.sameResult.data && size.sameResult.schema ? "the same end state as" : "a DIFFERENT end state from"} ` +
        `the migration (row fingerprints of files, file_versions and document_changes; columns, constraints, ` +
        `indexes, triggers and functions)${size.sameResult.differences.length > 0 ? `: ${size.sameResult.differences.slice(0, 5).join("; ")}` : ""}.`,
      "",
      "What the migration logged (run 1):",
      "",
      ...loggedLines(size.runs[0]!.logs).map((line) => `- ${line}`)
    )
  }
  return lines.join("\n")
}

/** How to read the figures; one paragraph for docs/benchmarks.md. */
export const readingTheRatio =
  "How to read the ratio: both sides do the same work on identical copies of the same database, in one " +
  "transaction each, on the same server, so the ratio is the price of how the migration does it rather than of " +
  "what it does. The plain SQL is the yardstick: each step is one set-based statement, statement for statement " +
  "what the migration runs, and nothing leaves the server. What the migration adds is its pass in TypeScript " +
  "(name keys via NameKey, content types via the MIME library, which SQL must not compute): every file read in " +
  "batches of 10,000 rows, computed in Node and written back to a scratch table, then applied by set-based " +
  "statements. A ratio near 1 means that design costs nothing that matters; a ratio of 2 would mean a " +
  "maintenance window twice what a hand-written SQL migration needs. The ratio should stay about the same at " +
  "both sizes; one that grows with size points at something in the migration that is worse than linear (a step " +
  "that rescans a table per batch, say). The peak RSS is that of the whole Node process running the migration; " +
  "the same process loaded and connected, before migrating, is the second figure. A batched backfill keeps it " +
  "bounded, but not necessarily flat: V8 lets garbage from the batches accumulate up to a heap size of its " +
  "choosing before collecting, so some growth between the sizes is expected and is not retained data. All times " +
  "are wall-clock on a shared, noisy 2-core machine: differences under about 10% between runs are noise."
