import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as FeedHealth from "../src/FeedHealth.js"
import * as FeedMetrics from "../src/FeedMetrics.js"
import * as Migrations from "../src/Migrations.js"
import * as Cluster from "./support/cluster.js"

const exec = promisify(execFile)
const tsx = path.resolve("node_modules/.bin/tsx")

/** `docstore <args>` against the cluster: exit code and the JSON it printed. */
const docstore = (url: string, args: ReadonlyArray<string>) =>
  exec(tsx, [path.resolve("src/cli.ts"), ...args], { env: { ...process.env, DATABASE_URL: url } }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: "" }),
    (error: { code: number; stdout: string; stderr: string }) => error
  ).then(({ code, stderr, stdout }) => ({
    code,
    stderr,
    json: stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line))
  }))

// The oldest open transaction is cluster-wide: a cluster of this file's own, so no other test's is older.
const makeRuntime = (url: string) =>
  ManagedRuntime.make(
    Layer.mergeAll(Documents.layer, DocumentChanges.layer({ wakeups: false })).pipe(
      Layer.provideMerge(Database.layer({ url: Redacted.make(url) }))
    )
  )
let cluster: Cluster.Cluster
let runtime: ReturnType<typeof makeRuntime>
beforeAll(async () => {
  cluster = await Cluster.start()
  runtime = makeRuntime(cluster.url)
  await runtime.runPromise(Migrations.run().pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning))))
})
afterAll(async () => {
  await runtime.dispose()
  await cluster.stop()
})

const putInputs = (workspaceId: string, count: number) =>
  runtime.runPromise(Effect.flatMap(Documents.Documents, (documents) =>
    Effect.forEach(Array.from({ length: count }, () => `${randomUUID()}.pdf`), (name) =>
      documents.put({ kind: "input", workspaceId, name, version: { storageKey: `k/${name}`, byteSize: 1 } }))))

describe("FeedHealth", () => {
  it("reports a transaction held open in another session, with its pid and age; docstore health exits 1 for it", async () => {
    const session = new pg.Client({ connectionString: cluster.url, application_name: "stuck-job" })
    await session.connect()
    try {
      await session.query("BEGIN")
      const [{ pid }] = (await session.query<{ pid: number }>(
        "SELECT pg_backend_pid() AS pid, pg_current_xact_id()"
      )).rows
      await Cluster.until(async () => {
        const health = await runtime.runPromise(FeedHealth.health())
        return (health.oldestTransaction?.ageSeconds ?? 0) > 0.05
      }, "the transaction to age")
      const health = await runtime.runPromise(FeedHealth.health({ maxTransactionAge: "10 millis" }))
      expect(health.oldestTransaction).toMatchObject({ pid, applicationName: "stuck-job", database: "docstore" })
      expect(health.healthy).toBe(false)
      expect(health.problems.join()).toMatch(new RegExp(`backend ${pid} \\(stuck-job\\)`))
      expect(await Metric.value(FeedMetrics.stallSeconds).pipe(Effect.runPromise)).toMatchObject({
        value: expect.any(Number)
      })

      const cli = await docstore(cluster.url, ["health", "--json", "--max-transaction-seconds", "0"])
      expect(cli.code).toBe(1)
      expect(cli.json[0]).toMatchObject({
        healthy: false,
        guard: { verdict: "Healthy" },
        oldestTransaction: { pid, applicationName: "stuck-job", database: "docstore" }
      })
      expect(cli.json[0].oldestTransaction.ageSeconds).toBeGreaterThan(0)
      expect(cli.stderr).toMatch(/Unhealthy: .*holds the feed's horizon back/)
    } finally {
      await session.end()
    }
    const healthy = await docstore(cluster.url, ["health", "--json"])
    expect(healthy).toMatchObject({ code: 0, json: [{ healthy: true, oldestTransaction: null }] })
  })

  it("reports a durable consumer's lag in changes and seconds after writes it has not processed", async () => {
    const workspaceId = randomUUID()
    await putInputs(workspaceId, 2)
    const deliveredBefore = (await Effect.runPromise(Metric.value(FeedMetrics.deliveredChanges))).count
    let handled = 0
    const consumer = runtime.runFork(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
      feed.consume({ name: "indexer", handler: (changes) => Effect.sync(() => (handled += changes.length)) })))
    await Cluster.until(async () => {
      const [status] = await runtime.runPromise(FeedHealth.consumers)
      return handled === 4 && status?.lagChanges === 0
    }, "the consumer to process and checkpoint the history")
    await runtime.runPromise(Fiber.interrupt(consumer))
    expect((await Effect.runPromise(Metric.value(FeedMetrics.deliveredChanges))).count - deliveredBefore).toBe(4)

    await putInputs(workspaceId, 3)
    const health = await runtime.runPromise(FeedHealth.health({ maxLag: "1 millis" }))
    expect(health.consumers).toEqual([
      expect.objectContaining({ name: "indexer", state: "current", lagChanges: 6, leaseHolder: null })
    ])
    expect(health.consumers[0]!.lagSeconds).toBeGreaterThan(0)
    expect(health.problems.join()).toMatch(/consumer indexer is 6 change\(s\)/)
    const lag = await Effect.runPromise(
      Metric.value(Metric.tagged(FeedMetrics.consumerLagChanges, "consumer", "indexer"))
    )
    expect(lag.value).toBe(6)

    const listed = await docstore(cluster.url, ["consumers", "--json"])
    expect(listed.code).toBe(0)
    expect(listed.json).toEqual([expect.objectContaining({ type: "consumer", name: "indexer", lagChanges: 6 })])
    // A held lease shows its holder.
    const running = runtime.runFork(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
      feed.consume({ name: "indexer", handler: () => Effect.never })))
    await Cluster.until(async () => {
      const [status] = await runtime.runPromise(FeedHealth.consumers)
      return status?.leaseHolder !== null
    }, "the consumer to take its lease")
    await runtime.runPromise(Fiber.interrupt(running))
  })

  it("counts every change streams deliver", async () => {
    const before = (await Effect.runPromise(Metric.value(FeedMetrics.deliveredChanges))).count
    await putInputs(randomUUID(), 2)
    const read = await runtime.runPromise(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
      feed.stream({ from: "beginning" }).pipe(
        Stream.takeUntil((event) => event._tag === "CaughtUp"),
        Stream.runCount
      )))
    const after = (await Effect.runPromise(Metric.value(FeedMetrics.deliveredChanges))).count
    expect(after - before).toBe(read - 1)
  })
})
