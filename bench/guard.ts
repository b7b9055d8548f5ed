/**
 * `npx tsx bench/guard.ts`: what the feed guard costs (docs/change-feed.md,
 * "The feed guard"). On a fresh embedded cluster: a guarded operation with a
 * cached verdict against the same loop without the guard (the raw baseline,
 * same run), and the check itself (FeedGuard.verdict: the facts, the
 * consumers' checkpoints, the watermark), which runs once per process start,
 * per new pool connection and per minute. Prints its figures.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Database from "../src/Database.js"
import * as FeedGuard from "../src/FeedGuard.js"
import * as Guard from "../src/internal/feed/guard.js"
import * as Migrations from "../src/Migrations.js"
import * as Cluster from "../test/support/cluster.js"

const calls = Number(process.argv[2] ?? 200_000)
const checks = 300
const cluster = await Cluster.start()
try {
  const runtime = ManagedRuntime.make(
    Database.layer({ url: Redacted.make(cluster.url) }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))
  )
  await runtime.runPromise(Migrations.run().pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning))))
  const sql = await runtime.runPromise(SqlClient.SqlClient)
  const guard = (await runtime.runPromise(Guard.of(sql))).guard
  await runtime.runPromise(guard)
  await runtime.runPromise(guard) // the first check saw the pool open its connection: trusted from the second
  const loop = (step: Effect.Effect<void, unknown>) =>
    Effect.gen(function*() {
      const started = performance.now()
      for (let i = 0; i < calls; i++) yield* step
      return ((performance.now() - started) * 1000) / calls
    })
  for (let round = 0; round < 3; round++) {
    const bare = await runtime.runPromise(loop(Effect.void))
    const guarded = await runtime.runPromise(loop(guard))
    console.log(`round ${round + 1}: ${calls} steps; bare ${bare.toFixed(3)} µs, guarded ${guarded.toFixed(3)} µs a step: ` +
      `the cached guard costs ${(guarded - bare).toFixed(3)} µs`)
  }
  const millis: Array<number> = []
  for (let i = 0; i < checks; i++) {
    const started = performance.now()
    await runtime.runPromise(FeedGuard.verdict)
    millis.push(performance.now() - started)
  }
  millis.sort((a, b) => a - b)
  console.log(`FeedGuard.verdict, ${checks} runs: p50 ${millis[checks >> 1]!.toFixed(2)} ms, ` +
    `p99 ${millis[Math.floor(checks * 0.99)]!.toFixed(2)} ms`)
  await runtime.dispose()
} finally {
  await cluster.stop()
}
