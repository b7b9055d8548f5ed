/**
 * `npx tsx bench/putCost.ts [--writes N] [--rounds N] [--lanes N] [--sides a,b] [--profile DIR]`
 *
 * Where `put`'s Node CPU goes: the client's CPU time per write of
 * `Documents.put` called two ways, beside bare `pg` sending the same
 * statement, into the same migrated database (with the change-feed
 * triggers), in interleaved rounds of one process:
 *
 * - `outside`: a caller outside Effect, one `runtime.runPromise(put)` per
 *   write, as bench/writes.ts (and any Promise-based caller) does;
 * - `inside`: a caller inside Effect, one long-running `Effect.forEach` over
 *   the writes on `lanes` fibers, entered once;
 * - `floor`: what any service written in Effect pays at least: bare's
 *   `pool.query` as the only step of an effect, one `runtime.runPromise` per
 *   write (no validation, key, result rows or wake-up);
 * - `bare`: bare `pg`, `pool.query` of the statement put sends (bench/stores.ts).
 *
 * With `--profile DIR`, each side's last round is also CPU-profiled (through
 * `node:inspector`, so set-up and migrations stay out of the profile) into
 * `DIR/<side>.cpuprofile`; bench/profileSummary.ts summarises one.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as inspector from "node:inspector"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import pg from "pg"
import * as Documents from "../src/Documents.js"
import * as Wakeup from "../src/internal/pg/wakeup.js"
import { withClient, withServer } from "./server.js"
import { barePut, documentsRuntime, median, newVersion, withStores } from "./stores.js"

const allSides = ["outside", "inside", "floor", "bare"] as const
type Side = typeof allSides[number]

const option = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at < 0 ? fallback : process.argv[at + 1] ?? fallback
}
const writes = Number(option("writes", "2000"))
const rounds = Number(option("rounds", "5"))
const lanes = Number(option("lanes", "8"))
const sides = option("sides", allSides.join(",")).split(",") as Array<Side>
const profileDir = process.argv.includes("--profile") ? option("profile", "/tmp/prof") : undefined

const session = new inspector.Session()
const post = (method: string, params?: object) =>
  new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (error, result) => error ? reject(error) : resolve(result)))

const lanesOf = async (count: number, call: (i: number) => Promise<unknown>) => {
  let next = 0
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < count) await call(next++)
  }))
}

const log = (line: string) => process.stdout.write(`${line}\n`)

await withServer(log, (server) =>
  withStores(server.url, "bench_putcost", async ({ withTriggers }) => {
    const runtime = documentsRuntime(withTriggers, lanes)
    const pool = new pg.Pool({ connectionString: withTriggers, max: lanes })
    // Counts the wake-up hints received: mostly carried by a put's own statement (internal/pg/wakeup.ts), the
    // rest sent by a NOTIFY of their own.
    const listener = new pg.Client({ connectionString: withTriggers })
    let wakeups = 0
    listener.on("notification", () => wakeups++)
    await listener.connect()
    await listener.query(`LISTEN ${Wakeup.channel}`)
    try {
      const documents = await runtime.runPromise(Documents.Documents)
      const workspaceId = randomUUID()
      const request = (i: number): Documents.PutRequest => ({
        kind: "input", workspaceId, name: `put-${i}-${randomUUID()}.pdf`, version: newVersion(i)
      })
      const run: Record<Side, (count: number) => Promise<unknown>> = {
        outside: (count) => lanesOf(count, (i) => runtime.runPromise(documents.put(request(i)))),
        inside: (count) =>
          runtime.runPromise(Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => documents.put(request(i)), {
            concurrency: lanes,
            discard: true
          })),
        floor: (count) =>
          lanesOf(count, (i) =>
            runtime.runPromise(Effect.promise(() => barePut(pool, workspaceId, `floor-${i}-${randomUUID()}.pdf`, newVersion(i))))),
        bare: (count) => lanesOf(count, (i) => barePut(pool, workspaceId, `bare-${i}-${randomUUID()}.pdf`, newVersion(i)))
      }
      for (const side of sides) await run[side](1_000)
      const results = Object.fromEntries(sides.map((side) => [side, { rate: [] as Array<number>, cpu: [] as Array<number>, wakeups: [] as Array<number> }]))
      if (profileDir !== undefined) {
        session.connect()
        await post("Profiler.enable")
        await post("Profiler.setSamplingInterval", { interval: 200 })
        await fs.mkdir(profileDir, { recursive: true })
      }
      for (let round = 0; round < rounds; round++) {
        // As bench/writes.ts: plans cached while the tables were small otherwise slow every round down.
        await withClient(withTriggers, (client) => client.query("ANALYZE"))
        const rotated = [...sides.slice(round % sides.length), ...sides.slice(0, round % sides.length)]
        for (const side of rotated) {
          const profiled = profileDir !== undefined && round === rounds - 1
          if (profiled) await post("Profiler.start")
          const notified = wakeups
          const before = process.cpuUsage()
          const started = performance.now()
          await run[side](writes)
          const seconds = (performance.now() - started) / 1000
          const used = process.cpuUsage(before)
          if (profiled) {
            const { profile } = await post("Profiler.stop")
            await fs.writeFile(path.join(profileDir!, `${side}.cpuprofile`), JSON.stringify(profile))
          }
          results[side]!.rate.push(writes / seconds)
          results[side]!.cpu.push((used.user + used.system) / writes)
          results[side]!.wakeups.push((wakeups - notified) / writes)
        }
        log(`round ${round + 1}: ${sides.map((s) => `${s} ${results[s]!.rate.at(-1)!.toFixed(0)}/s ${results[s]!.cpu.at(-1)!.toFixed(0)} µs`).join(", ")}`)
      }
      log(`\n${writes} writes per side per round, ${rounds} rounds, ${lanes} lanes; medians:\n`)
      log("| side | writes/s | client CPU µs per write | wake-up hints per write |")
      log("| --- | ---: | ---: | ---: |")
      for (const side of sides) {
        log(`| ${side} | ${median(results[side]!.rate).toFixed(0)} | ${median(results[side]!.cpu).toFixed(0)} | ${median(results[side]!.wakeups).toFixed(2)} |`)
      }
    } finally {
      if (profileDir !== undefined) session.disconnect()
      await listener.end()
      await pool.end()
      await runtime.dispose()
    }
  })
)
