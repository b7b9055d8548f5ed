/**
 * `npm run bench [-- <name>...] [--documents N] [--runs N]`
 *
 * Runs the named benchmarks (all of them without a name) on one PostgreSQL
 * server (bench/server.ts: DATABASE_URL, else a fresh embedded server that is
 * removed afterwards), prints their tables and rewrites docs/benchmarks.md.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { feedBenchmark } from "./feed.js"
import { formatMigrationBench, readingTheRatio, runMigrationBench } from "./migration.js"
import { runWritesBench } from "./writes.js"
import { embeddedSettings, serverFacts, withServer } from "./server.js"

export interface BenchContext {
  readonly url: string
  /** --documents, when given. */
  readonly documents: number | undefined
  /** --runs, when given. */
  readonly runs: number | undefined
  readonly log: (line: string) => void
}

export interface BenchReport {
  /** Markdown for docs/benchmarks.md (also printed). */
  readonly markdown: string
}

export interface Benchmark {
  readonly title: string
  readonly description: string
  readonly run: (context: BenchContext) => Promise<BenchReport>
}

/** Every benchmark, by the name given on the command line. */
export const benchmarks: Readonly<Record<string, Benchmark>> = {
  migration: {
    title: "Migration from the legacy schema (0001 adopt + 0002 + 0003)",
    description:
      "A generated legacy database (bench/legacyData.ts) is copied from a template; one copy is migrated by " +
      "the real migration (`Migrations.run`, steps 0001-0003, in a child Node process so that its peak RSS is " +
      "the migration's alone), the other by the same transformation written as plain SQL in one transaction " +
      "(bench/plainSql.ts). Both are timed from BEGIN to COMMIT; each run checks that files and file_versions " +
      "kept every row and that document_changes has one `created` row per document. Two sizes: the given " +
      "number of documents (default 1,000,000, about 2 versions each) and a tenth of it, to see how time and " +
      "memory grow with size.",
    run: async ({ documents, log, runs, url }) => {
      const result = await runMigrationBench({ documents: documents ?? 1_000_000, runs: runs ?? 3, log, url })
      return { markdown: `${formatMigrationBench(result)}\n\n${readingTheRatio}` }
    }
  },
  writes: {
    title: "Single-document writes: Documents.put against bare pg",
    description:
      "One new input document with its first version per transaction, 8 concurrent lanes on pools of 8 " +
      "connections: `Documents.put` (validation, upsert-and-lock, version insert, decoded rows, wake-up " +
      "NOTIFY after commit) against bare `pg` sending the same four statements (BEGIN, the upsert, the " +
      "version insert, COMMIT). Both write to the same migrated database, with the change-feed triggers on. " +
      "Runs alternate which side goes first; the ratio is service/bare (target >= 0.85).",
    run: async ({ documents, log, runs, url }) => {
      const result = await runWritesBench({ serverUrl: url, writes: documents ?? 5_000, runs: runs ?? 3, log })
      const rows = result.runs.map((run, i) =>
        `| ${i + 1} | ${run.service.toFixed(0)} | ${run.bare.toFixed(0)} | ${(run.service / run.bare).toFixed(2)} |`
      )
      return {
        markdown: [
          `${result.writes} writes per side per run, ${result.workers} lanes.`,
          "",
          "| run | Documents.put, writes/s | bare pg, writes/s | ratio |",
          "| ---: | ---: | ---: | ---: |",
          ...rows,
          `| **median** | ${result.service.toFixed(0)} | ${result.bare.toFixed(0)} | **${result.ratio.toFixed(2)}** |`
        ].join("\n")
      }
    }
  },
  feed: feedBenchmark
}

const usage = `usage: npm run bench [-- <name>...] [--documents N] [--runs N]
benchmarks: ${Object.keys(benchmarks).join(", ")}`

const parseArguments = (args: ReadonlyArray<string>) => {
  const names: Array<string> = []
  const numbers: { documents?: number | undefined; runs?: number | undefined } = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const flag = /^--(documents|runs)(?:=(.*))?$/.exec(arg)
    if (flag) {
      const value = flag[2] ?? args[++i]
      const parsed = Number(value?.replaceAll("_", "").replaceAll(",", ""))
      if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${flag[1]} needs a positive integer\n${usage}`)
      numbers[flag[1] as "documents" | "runs"] = parsed
    } else if (arg === "--help" || arg === "-h") {
      process.stdout.write(`${usage}\n`)
      process.exit(0)
    } else if (arg.startsWith("-")) {
      throw new Error(`unknown option ${arg}\n${usage}`)
    } else if (benchmarks[arg] === undefined) {
      throw new Error(`unknown benchmark "${arg}"\n${usage}`)
    } else {
      names.push(arg)
    }
  }
  return { names: names.length > 0 ? names : Object.keys(benchmarks), documents: numbers.documents, runs: numbers.runs }
}

const docsFile = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), "docs", "benchmarks.md")

const main = async () => {
  const args = process.argv.slice(2)
  const options = parseArguments(args)
  const started = Date.now()
  const log = (line: string) => {
    const elapsed = ((Date.now() - started) / 1000).toFixed(0).padStart(5)
    process.stdout.write(`[${elapsed} s] ${line}\n`)
  }
  const sections: Array<string> = []
  const header = await withServer(log, async (server) => {
    const facts = await serverFacts(server.url)
    log(`PostgreSQL: ${facts.version}`)
    log(`settings: ${facts.settings.map(([name, value]) => `${name}=${value}`).join(", ")}`)
    for (const name of options.names) {
      const benchmark = benchmarks[name]!
      log(`benchmark ${name}: ${benchmark.title}`)
      const report = await benchmark.run({ url: server.url, documents: options.documents, runs: options.runs, log })
      process.stdout.write(`\n${report.markdown}\n\n`)
      sections.push(`## ${name}: ${benchmark.title}\n\n${benchmark.description}\n\n${report.markdown}`)
    }
    return { facts, server: server.description }
  })
  const command = `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`
  const environment = [
    ["date", new Date().toISOString()],
    ["command", `\`${command}\``],
    ["total time", `${((Date.now() - started) / 60_000).toFixed(1)} min`],
    ["server", process.env.DATABASE_URL
      ? header.server
      : `${header.server}, started with ${Object.keys(embeddedSettings).length === 0 ? "no settings overridden (PostgreSQL's defaults, durability on)" : JSON.stringify(embeddedSettings)}`],
    ["PostgreSQL", header.facts.version],
    ...header.facts.settings.map(([name, value]) => [name, `\`${value}\``]),
    ["cores (os.cpus().length)", String(os.cpus().length)],
    ["CPU", os.cpus()[0]?.model ?? "unknown"],
    ["memory", `${(os.totalmem() / 1024 ** 3).toFixed(0)} GB`],
    ["Node.js", process.version]
  ]
  const markdown = [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (bench/run.ts), which rewrites this page on every run: do not edit it by hand. " +
    "`npm run bench -- <name>` runs one benchmark, `--documents N` and `--runs N` change the sizes.",
    "",
    "## Environment",
    "",
    "| | |",
    "|---|---|",
    ...environment.map(([name, value]) => `| ${name} | ${value} |`),
    "",
    ...sections.flatMap((section) => [section, ""])
  ].join("\n")
  await fs.writeFile(docsFile, markdown)
  log(`wrote ${path.relative(process.cwd(), docsFile)}`)
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
