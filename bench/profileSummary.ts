/**
 * `npx tsx bench/profileSummary.ts FILE.cpuprofile [--top N] [--per N]`
 *
 * Summarises a V8 CPU profile (from bench/putCost.ts --profile, or node
 * --cpu-prof): self time by owner (this library, pg, @effect/sql, Effect's
 * runtime, Node itself, GC, idle), inclusive time by file of this library
 * and of the packages (each sample counted once per file on its stack), and
 * the top frames by self time and by inclusive time (once per function).
 * `--per N` also prints every figure in µs per unit of work (N writes).
 */
import * as fs from "node:fs"

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<Node>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const file = process.argv[2]
if (file === undefined) throw new Error("usage: npx tsx bench/profileSummary.ts FILE.cpuprofile [--top N] [--per N]")
const option = (name: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at < 0 ? undefined : Number(process.argv[at + 1])
}
const top = option("top") ?? 25
const per = option("per")
const profile = JSON.parse(fs.readFileSync(file, "utf8")) as Profile

export const owner = (url: string, name: string): string => {
  if (url === "") {
    if (name === "(garbage collector)") return "GC"
    if (name === "(idle)") return "idle"
    if (name === "(program)") return "Node/V8 (program)"
    return "Node/V8 native"
  }
  if (url.startsWith("node:")) return "Node core"
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (modules) {
    const pkg = modules[1]!
    if (pkg === "effect") return "effect (runtime, Schema)"
    if (pkg.startsWith("@effect/sql")) return "@effect/sql, @effect/sql-pg"
    if (pkg === "pg" || pkg.startsWith("pg-")) return "pg, pg-protocol"
    return pkg
  }
  if (url.includes("/src/")) return "library (src/)"
  if (url.includes("/bench/")) return "bench harness (bench/)"
  return url
}

const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const parent = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
const frameKey = (node: Node) => {
  const { functionName, lineNumber, url } = node.callFrame
  const short = url.replace(/^.*node_modules\//, "").replace(/^.*\/(src|bench)\//, "$1/").replace(/^file:\/\//, "")
  return `${functionName || "(anonymous)"} ${short}${url ? `:${lineNumber + 1}` : ""}`
}

const fileOf = (url: string) =>
  url.includes("node_modules/")
    ? url.replace(/^.*node_modules\//, "")
    : url.replace(/^.*\/(src|bench)\//, "$1/").replace(/^file:\/\//, "")

const self = new Map<string, number>()
const inclusive = new Map<string, number>()
const files = new Map<string, number>()
const owners = new Map<string, number>()
let total = 0
profile.samples.forEach((sample, i) => {
  const delta = profile.timeDeltas[i] ?? 0
  total += delta
  const leaf = byId.get(sample)!
  self.set(frameKey(leaf), (self.get(frameKey(leaf)) ?? 0) + delta)
  const who = owner(leaf.callFrame.url, leaf.callFrame.functionName)
  owners.set(who, (owners.get(who) ?? 0) + delta)
  const seen = new Set<string>()
  for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
    const node = byId.get(id)!
    const key = frameKey(node)
    const inFile = `file ${fileOf(node.callFrame.url)}`
    if (node.callFrame.url !== "" && !node.callFrame.url.startsWith("node:") && !seen.has(inFile)) {
      seen.add(inFile)
      files.set(inFile, (files.get(inFile) ?? 0) + delta)
    }
    if (seen.has(key)) continue
    seen.add(key)
    inclusive.set(key, (inclusive.get(key) ?? 0) + delta)
  }
})

const idle = owners.get("idle") ?? 0
const busy = total - idle
const fmt = (micros: number) =>
  `${(micros / 1000).toFixed(1)} ms | ${(100 * micros / busy).toFixed(1)}%${per ? ` | ${(micros / per).toFixed(1)}` : ""}`
const head = `| ms | % of busy${per ? " | µs per write" : ""} |`
const rule = `| ---: | ---: ${per ? "| ---: " : ""}|`
const table = (title: string, entries: Iterable<[string, number]>, limit: number) => {
  process.stdout.write(`\n${title}\n\n| frame ${head}\n| --- ${rule}\n`)
  for (const [key, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    process.stdout.write(`| \`${key.replaceAll("|", "\\|")}\` | ${fmt(micros)} |\n`)
  }
}

process.stdout.write(`${file}: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (not idle)\n`)
table("Self time by owner", [...owners].filter(([who]) => who !== "idle"), 20)
table("Inclusive time by file", [...files].map(([key, micros]) => [key.slice(5), micros] as [string, number]), top)
table("Top frames by self time", [...self].filter(([key]) => !key.startsWith("(idle)")), top)
table("Top frames by inclusive time", [...inclusive].filter(([key]) => !key.startsWith("(root)") && !key.startsWith("(idle)")), top)
