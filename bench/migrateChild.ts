/**
 * The migrating process of the migration benchmark:
 * `node --import tsx bench/migrateChild.ts <database url>`.
 *
 * Runs the real migration (Migrations.run, steps 0001-0003) on the given
 * legacy database, as `migrate` would, and prints one JSON line on stdout:
 * elapsed time of Migrations.run, each step's duration, every log line with
 * its time, the RSS before the migration and the process's peak RSS
 * (`process.resourceUsage().maxRSS`). Progress goes to stderr.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import { migrations as history } from "../migrations/index.js"
import * as Database from "../src/Database.js"
import * as Migrations from "../src/Migrations.js"

/** What the benchmark measures: adopting the legacy schema, then 0002 and 0003. */
export const benchedSteps = ["0001_legacy_baseline", "0002_simplify_files", "0003_document_changes"] as const

export interface ChildReport {
  readonly elapsedMs: number
  readonly steps: ReadonlyArray<{ readonly migration: string; readonly millis: number }>
  readonly logs: ReadonlyArray<{ readonly atMs: number; readonly message: string }>
  /** RSS once the modules are loaded and the connection is open, in bytes. */
  readonly rssBeforeBytes: number
  /** Peak RSS of this process, in kilobytes (as `process.resourceUsage()` gives it). */
  readonly maxRssKb: number
}

const url = process.argv[2]
if (url === undefined) {
  process.stderr.write("usage: node --import tsx bench/migrateChild.ts <database url>\n")
  process.exit(2)
}

const steps: Migrations.History = Object.fromEntries(
  benchedSteps.map((key) => {
    const step = history[key]
    if (step === undefined) throw new Error(`migration ${key} is not in migrations/index.ts`)
    return [key, step]
  })
)

let started = Date.now()
const logs: Array<{ atMs: number; message: string }> = []
const logger = Logger.make(({ message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  const atMs = Date.now() - started
  logs.push({ atMs, message: text })
  process.stderr.write(`    [${(atMs / 1000).toFixed(1)} s] ${text}\n`)
})

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT 1`
  const rssBeforeBytes = process.memoryUsage().rss
  started = Date.now()
  const applied = yield* Migrations.run({
    migrations: steps,
    onApplied: ({ migration, millis }) =>
      Effect.sync(() => process.stderr.write(`  applied ${migration} (${(millis / 1000).toFixed(2)} s)\n`))
  })
  const elapsedMs = Date.now() - started
  if (applied.length !== benchedSteps.length) {
    return yield* Effect.dieMessage(`expected ${benchedSteps.length} steps to be applied, got ${applied.length}`)
  }
  const report: ChildReport = {
    elapsedMs,
    steps: applied,
    logs,
    rssBeforeBytes,
    maxRssKb: process.resourceUsage().maxRSS
  }
  return report
})

Effect.runPromise(
  program.pipe(
    Effect.provide(Database.layer({ url: Redacted.make(url), applicationName: "docstore-bench-migrate" })),
    Effect.provide(Logger.replace(Logger.defaultLogger, logger))
  )
).then(
  (report) => {
    process.stdout.write(JSON.stringify(report) + "\n")
    process.exit(0)
  },
  (error) => {
    process.stderr.write(`migration failed: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
)
