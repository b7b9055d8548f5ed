/**
 * Single-document writes, one new input document with its first version per
 * transaction, on concurrent lanes:
 *
 * - `Documents.put` against bare `pg` sending the same statement, both
 *   into the database with the change-feed triggers; `put` called two ways:
 *   from outside Effect (one `runtime.runPromise` per write, as a Promise
 *   caller does) and from inside (the lanes are fibers of one long-running
 *   effect, as in an Effect backend);
 * - the trigger cost: bare `pg` into that database against bare `pg` into an
 *   identical one without the change-feed triggers.
 */
import { randomUUID } from "node:crypto"
import * as Effect from "effect/Effect"
import pg from "pg"
import * as Documents from "../src/Documents.js"
import { withClient } from "./server.js"
import { barePut, documentsRuntime, median, newVersion, type Sides, sidesTable, timedLanes, withStores } from "./stores.js"

export interface WritesOptions {
  /** A server URL on which the benchmark may create and drop databases. */
  readonly serverUrl: string
  readonly writes: number
  readonly lanes: number
  readonly runs: number
  readonly log: (line: string) => void
}

export interface WritesRun {
  readonly service: number
  /** `put` called from inside Effect. */
  readonly serviceInEffect: number
  readonly bare: number
  readonly bareWithoutTriggers: number
  /** This process's CPU time (user + system) per write of each side, in µs: the client's share of a write. */
  readonly cpuMicros: Readonly<Record<Side, number>>
}

export interface WritesResult {
  readonly writes: number
  readonly lanes: number
  readonly runs: ReadonlyArray<WritesRun>
}

type Side = keyof Sides | "serviceInEffect"

export const runWritesBench = (options: WritesOptions): Promise<WritesResult> =>
  withStores(options.serverUrl, "bench_writes", async ({ withTriggers, withoutTriggers }) => {
    const { lanes, log, writes } = options
    const runtime = documentsRuntime(withTriggers, lanes)
    const pools = [new pg.Pool({ connectionString: withTriggers, max: lanes }), new pg.Pool({ connectionString: withoutTriggers, max: lanes })] as const
    try {
      const documents = await runtime.runPromise(Documents.Documents)
      const workspaceId = randomUUID()
      const request = (i: number): Documents.PutRequest =>
        ({ kind: "input", workspaceId, name: `service-${i}-${randomUUID()}.pdf`, version: newVersion(i) })
      const sides: Record<Exclude<Side, "serviceInEffect">, (i: number) => Promise<unknown>> = {
        service: (i) => runtime.runPromise(documents.put(request(i))),
        bare: (i) => barePut(pools[0], workspaceId, `bare-${i}-${randomUUID()}.pdf`, newVersion(i)),
        bareWithoutTriggers: (i) => barePut(pools[1], workspaceId, `bare-${i}-${randomUUID()}.pdf`, newVersion(i))
      }
      // The lanes as fibers of one effect, entered once.
      const inEffect = async (count: number) => {
        const started = performance.now()
        await runtime.runPromise(
          Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => documents.put(request(i)), { concurrency: lanes, discard: true })
        )
        return count / ((performance.now() - started) / 1000)
      }
      const timed = (side: Side, count: number) =>
        side === "serviceInEffect" ? inEffect(count) : timedLanes(count, lanes, sides[side])
      const order: ReadonlyArray<Side> = ["service", "serviceInEffect", "bare", "bareWithoutTriggers"]
      // Warm every path (connections, plans, JIT) before measuring. With 200 writes each, the first run's
      // put was still 20-30% slower than the later ones: V8 had not yet optimised the longer path.
      for (const side of order) await timed(side, Math.min(1_000, writes))
      const runs: Array<WritesRun> = []
      // Each run's writes go in slices, the sides taking turns: on this shared machine the throughput drifts
      // within seconds, and one side's whole run at a time let drift decide the ratio (put / bare moved
      // between 0.72 and 1.01 across the runs of one median).
      const slices = writes >= 1_000 ? 6 : 1
      for (let run = 0; run < options.runs; run++) {
        // Statistics as current as autovacuum keeps them on a running deployment (it first visits a new
        // database after a minute or more). Without, the plans cached while the tables were nearly empty
        // scan them whole, and every run was slower than the last as they grew: bare pg without triggers fell
        // from 1,182 to 466 writes per second over five runs.
        for (const url of [withTriggers, withoutTriggers]) await withClient(url, (client) => client.query("ANALYZE"))
        const seconds = { service: 0, serviceInEffect: 0, bare: 0, bareWithoutTriggers: 0 } as Record<Side, number>
        const cpu = { ...seconds }
        for (let slice = 0; slice < slices; slice++) {
          // Rotate which goes first, so what drift is left hits every side.
          const turn = (run + slice) % order.length
          const count = Math.round(writes * (slice + 1) / slices) - Math.round(writes * slice / slices)
          for (const side of [...order.slice(turn), ...order.slice(0, turn)]) {
            const before = process.cpuUsage()
            seconds[side] += count / await timed(side, count)
            const used = process.cpuUsage(before)
            cpu[side] += used.user + used.system
          }
        }
        const result = {} as Record<Side, number>
        const cpuMicros = {} as Record<Side, number>
        for (const side of order) {
          result[side] = writes / seconds[side]
          cpuMicros[side] = cpu[side] / writes
        }
        runs.push({ ...result, cpuMicros })
        log(
          `writes run ${run + 1}: service ${result.service.toFixed(0)}/s (inside Effect ${result.serviceInEffect.toFixed(0)}/s), ` +
            `bare pg ${result.bare.toFixed(0)}/s, ` +
            `bare pg without change-feed triggers ${result.bareWithoutTriggers.toFixed(0)}/s`
        )
      }
      return { writes, lanes, runs }
    } finally {
      await Promise.all(pools.map((pool) => pool.end()))
      await runtime.dispose()
    }
  })

export const serviceRatio = (run: WritesRun) => run.service / run.bare
export const inEffectRatio = (run: WritesRun) => run.serviceInEffect / run.bare
export const triggerRatio = (run: WritesRun) => run.bareWithoutTriggers === 0 ? NaN : run.bare / run.bareWithoutTriggers

export const formatWrites = (result: WritesResult) =>
  [
    `${result.writes.toLocaleString("en-US")} writes per side per run on ${result.lanes} lanes (pools of ${result.lanes} connections).`,
    "",
    ...sidesTable(
      [
        "Documents.put, writes/s",
        "bare pg, writes/s",
        "bare pg without change-feed triggers, writes/s",
        "put / bare (target >= 0.9)",
        "with / without triggers (target >= 0.85)"
      ],
      result.runs,
      serviceRatio,
      triggerRatio
    ),
    "",
    "The same `put`s called from inside Effect (the lanes are fibers of one effect, entered once; a caller outside " +
    "Effect pays one `runPromise` per write):",
    "",
    "| run | put inside Effect, writes/s | bare pg, writes/s | put inside Effect / bare (target >= 0.9) |",
    "| ---: | ---: | ---: | ---: |",
    ...result.runs.map((run, i) =>
      `| ${i + 1} | ${run.serviceInEffect.toFixed(0)} | ${run.bare.toFixed(0)} | ${inEffectRatio(run).toFixed(2)} |`
    ),
    `| **median** | ${median(result.runs.map((r) => r.serviceInEffect)).toFixed(0)} | ${median(result.runs.map((r) => r.bare)).toFixed(0)} | ` +
    `${median(result.runs.map(inEffectRatio)).toFixed(2)} |`,
    "",
    "This process's CPU time per write (user + system, µs): the client's share of each write, which on two shared " +
    "cores the server does not get.",
    "",
    "| run | Documents.put | put inside Effect | bare pg | put - bare | put inside Effect - bare |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.runs.map((run, i) => {
      const { bare, service, serviceInEffect } = run.cpuMicros
      return `| ${i + 1} | ${service.toFixed(0)} | ${serviceInEffect.toFixed(0)} | ${bare.toFixed(0)} | ` +
        `${(service - bare).toFixed(0)} | ${(serviceInEffect - bare).toFixed(0)} |`
    })
  ].join("\n")
