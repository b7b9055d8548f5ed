/**
 * `npm run bench [-- <name>...] [--size N] [--runs N]`
 *
 * Runs the named benchmarks (all of them without a name, registry in
 * bench/benchmarks.ts) on one PostgreSQL server (bench/server.ts:
 * DATABASE_URL, else a fresh embedded server removed afterwards), prints their
 * tables, and rewrites their sections of docs/benchmarks.md and the summary
 * at its top; sections of benchmarks not run are kept as they were.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Figure, benchmarks } from "./benchmarks.js"
import { embeddedSettings, serverFacts, withServer } from "./server.js"

const usage = `usage: npm run bench [-- <name>...] [--size N] [--runs N]
benchmarks:
${Object.entries(benchmarks).map(([name, b]) => `  ${name.padEnd(10)} --size: ${b.size}`).join("\n")}`

const parseArguments = (args: ReadonlyArray<string>) => {
  const names: Array<string> = []
  const numbers: { size?: number | undefined; runs?: number | undefined } = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const flag = /^--(size|runs)(?:=(.*))?$/.exec(arg)
    if (flag) {
      const value = flag[2] ?? args[++i]
      const parsed = Number(value?.replaceAll("_", "").replaceAll(",", ""))
      if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${flag[1]} needs a positive integer\n${usage}`)
      numbers[flag[1] as "size" | "runs"] = parsed
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
  return { names: names.length > 0 ? names : Object.keys(benchmarks), size: numbers.size, runs: numbers.runs }
}

const docsFile = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), "docs", "benchmarks.md")

interface Section {
  readonly markdown: string
  readonly figures: ReadonlyArray<Figure>
  readonly measured: string
}

// Each section is kept between markers, with its figures, so that running one benchmark keeps the others.
const sectionPattern = /<!-- bench:(\w+) (\{.*?\}) -->\n([\s\S]*?)\n<!-- \/bench:\1 -->/g

const readSections = async (): Promise<Map<string, Section>> => {
  const sections = new Map<string, Section>()
  const text = await fs.readFile(docsFile, "utf8").catch(() => "")
  for (const match of text.matchAll(sectionPattern)) {
    const meta = JSON.parse(match[2]!) as { figures: ReadonlyArray<Figure>; measured: string }
    const markdown = match[3]!.replace(`<a id="${match[1]}"></a>\n\n`, "")
    if (benchmarks[match[1]!] !== undefined) sections.set(match[1]!, { ...meta, markdown })
  }
  return sections
}

const main = async () => {
  const args = process.argv.slice(2)
  const options = parseArguments(args)
  const started = Date.now()
  const log = (line: string) => {
    const elapsed = ((Date.now() - started) / 1000).toFixed(0).padStart(5)
    process.stdout.write(`[${elapsed} s] ${line}\n`)
  }
  const command = `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`
  const sections = await readSections()
  const header = await withServer(log, async (server) => {
    const facts = await serverFacts(server.url)
    log(`PostgreSQL: ${facts.version}`)
    log(`settings: ${facts.settings.map(([name, value]) => `${name}=${value}`).join(", ")}`)
    for (const name of options.names) {
      const benchmark = benchmarks[name]!
      log(`benchmark ${name}: ${benchmark.title}`)
      const benchStarted = Date.now()
      const report = await benchmark.run({ url: server.url, size: options.size, runs: options.runs, smoke: false, log })
      process.stdout.write(`\n${report.markdown}\n\n`)
      for (const figure of report.figures) {
        log(`${figure.met ? "met   " : "MISSED"} ${figure.path}: ${figure.display} (target ${figure.target})`)
      }
      const measured = `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, \`${command}\`, ` +
        `${((Date.now() - benchStarted) / 60_000).toFixed(1)} min`
      sections.set(name, { markdown: report.markdown, figures: report.figures, measured })
    }
    return { facts, server: server.description }
  })
  const environment = [
    ["date", new Date().toISOString()],
    ["command", `\`${command}\``],
    ["total time", `${((Date.now() - started) / 60_000).toFixed(1)} min`],
    ["server", process.env.DATABASE_URL
      ? header.server
      : `${header.server}, started with ${Object.keys(embeddedSettings).length === 0 ? "no settings overridden (PostgreSQL's defaults, durability on)" : `these settings overridden: ${Object.entries(embeddedSettings).map(([k, v]) => `${k}=${v}`).join(", ")} (durability on)`}`],
    ["PostgreSQL", header.facts.version],
    ...header.facts.settings.map(([name, value]) => [name, `\`${value}\``]),
    ["cores (os.cpus().length)", String(os.cpus().length)],
    ["CPU", os.cpus()[0]?.model ?? "unknown"],
    ["memory", `${(os.totalmem() / 1024 ** 3).toFixed(0)} GB`],
    ["Node.js", process.version]
  ]
  const ordered = Object.keys(benchmarks).filter((name) => sections.has(name))
  const summary = ordered.flatMap((name) =>
    sections.get(name)!.figures.map((f) => `| ${f.path} | ${f.display} | ${f.target} | ${f.met ? "yes" : "**no**"} | [${name}](#${name}) |`)
  )
  const markdown = [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (bench/run.ts): do not edit by hand. `npm run bench` runs every benchmark, " +
      "`npm run bench -- <name>` one of them (its section below is replaced, the others kept), `--size N` and " +
      "`--runs N` change the sizes. Every figure is a ratio against a raw baseline doing the same work, measured in " +
      "the same run (the machine is shared and noisy), the median of the runs. What limits the figures that miss " +
      "their target, and how cost grows with size: [scaling.md](scaling.md).",
    "",
    "## Summary",
    "",
    "| path | figure | target | met | section |",
    "| --- | ---: | ---: | :---: | --- |",
    ...summary,
    "",
    "## Environment of the last run",
    "",
    "| | |",
    "|---|---|",
    ...environment.map(([name, value]) => `| ${name} | ${value} |`),
    "",
    ...ordered.flatMap((name) => {
      const section = sections.get(name)!
      const benchmark = benchmarks[name]!
      return [
        `<!-- bench:${name} ${JSON.stringify({ figures: section.figures, measured: section.measured })} -->`,
        `<a id="${name}"></a>`,
        "",
        section.markdown.startsWith(`## ${name}:`)
          ? section.markdown
          : `## ${name}: ${benchmark.title}\n\nMeasured ${section.measured}.\n\n${benchmark.description}\n\n${section.markdown}`,
        `<!-- /bench:${name} -->`,
        ""
      ]
    })
  ].join("\n")
  await fs.writeFile(docsFile, markdown)
  log(`wrote ${path.relative(process.cwd(), docsFile)}`)
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
