/**
 * Secrets: the database password never appears in logs, errors or CLI output.
 *
 * Each test tries to make it appear: connection strings with a wrong
 * password, an unreachable host, a missing database, malformed URLs and a
 * password that was not percent-encoded; through the library (the error's
 * message, toString, JSON, Cause.pretty, util.inspect, and every log line at
 * Debug level), through `docstore` and `tsx src/migrate.ts`, through the
 * embedded server's notice, and through the wake-up listener and the streams
 * reconnecting after their connections were killed.
 */
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { inspect, promisify } from "node:util"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { inject } from "vitest"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as Embedded from "../src/internal/embedded.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, withClient } from "./support/Database.js"
import { untilSentinel } from "./support/sentinel.js"

const exec = promisify(execFile)
const tsx = path.resolve("node_modules/.bin/tsx")

/** A password nobody would write by accident; its parts are checked too, for partial leaks. */
const secret = "Xq7vHunter2Zk9Sekrit4Wp"
const secretParts = ["Xq7vHunter2Zk9Sekrit4Wp", "Hunter2Zk9", "Zk9Sekrit"]

/** The run's server, with its real password (the other secret these tests guard). */
const server = () => {
  const url = new URL(inject("databaseUrl"))
  return { url, password: decodeURIComponent(url.password) }
}

const withPassword = (url: URL, password: string, changes: { database?: string; host?: string; port?: string } = {}) => {
  const copy = new URL(url.toString())
  copy.password = encodeURIComponent(password)
  if (changes.database !== undefined) copy.pathname = `/${changes.database}`
  if (changes.host !== undefined) copy.hostname = changes.host
  if (changes.port !== undefined) copy.port = changes.port
  return copy.toString()
}

/** The ways to get the connection wrong, each with the password that must not leak. */
const badConnections = () => {
  const { password, url } = server()
  const port = url.port
  return [
    { what: "a wrong password", url: withPassword(url, secret), password: secret },
    { what: "an unreachable host", url: withPassword(url, secret, { port: "1" }), password: secret },
    { what: "a host that does not resolve", url: withPassword(url, secret, { host: "db.invalid" }), password: secret },
    { what: "a database that does not exist", url: withPassword(url, password, { database: "no_such_db" }), password },
    { what: "a port that is not a number", url: `postgres://postgres:${secret}@127.0.0.1:notaport/docstore`, password: secret },
    { what: "an unclosed IPv6 bracket", url: `postgres://postgres:${secret}@[::1/docstore`, password: secret },
    {
      what: "a password that was not percent-encoded",
      url: `postgres://postgres:Xq7v/Hunter2Zk9#Sekrit4Wp@127.0.0.1:${port}/postgres`,
      password: secret
    },
    { what: "the password in place of the URL", url: secret, password: secret }
  ]
}

const expectAbsent = (text: string, password: string, where: string) => {
  for (const part of password === secret ? secretParts : [password]) {
    if (text.includes(part)) throw new Error(`the password (or part of it) appears in ${where}:\n${text}`)
  }
}

/** Every log line (message, annotations, cause), at every level. */
const capturingLogger = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make((options) => {
      lines.push(Logger.logfmtLogger.log(options))
      lines.push(inspect(options.message, { depth: 10 }), Cause.pretty(options.cause))
    })
  )

/** Everything a caller can print of a failure. */
const renderings = (cause: Cause.Cause<unknown>): Array<string> => {
  const error = Cause.squash(cause) as { message?: string; cause?: unknown }
  return [
    String(error),
    String(error?.message),
    JSON.stringify(error),
    JSON.stringify(cause),
    Cause.pretty(cause),
    Cause.pretty(cause, { renderErrorCause: true }),
    inspect(cause, { depth: 20 }),
    inspect(error?.cause, { depth: 20 }),
    String(error?.cause)
  ]
}

interface Ran {
  readonly code: number
  readonly output: string
}

const runScript = (script: string, args: ReadonlyArray<string>, env: Record<string, string | undefined>, cwd = process.cwd()) =>
  exec(tsx, [path.resolve(script), ...args], { cwd, env: { ...process.env, ...env }, timeout: 60_000 }).then(
    ({ stderr, stdout }): Ran => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }): Ran => ({
      code: error.code,
      output: error.stdout + error.stderr
    })
  )

describe("Secrets", () => {
  it.live("the library's connection failures carry no password in their message, JSON, pretty cause or Debug logs", () =>
    Effect.gen(function*() {
      for (const bad of badConnections()) {
        const lines: Array<string> = []
        const exit = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(
          Effect.provide(Database.layer({ url: Redacted.make(bad.url) })),
          Effect.tapErrorCause((cause) => Effect.logDebug("connecting failed", cause)),
          Effect.provide(capturingLogger(lines)),
          Logger.withMinimumLogLevel(LogLevel.All),
          Effect.exit
        )
        expect(Exit.isFailure(exit), bad.what).toBe(true)
        if (Exit.isFailure(exit)) {
          // A typed SqlError, not a defect.
          expect(Cause.failureOption(exit.cause).pipe(Option.map((error) => error._tag)), bad.what).toEqual(Option.some("SqlError"))
          for (const text of renderings(exit.cause)) expectAbsent(text, bad.password, `the error for ${bad.what}`)
        }
        expect(lines.length).toBeGreaterThan(0)
        expectAbsent(lines.join("\n"), bad.password, `the logs for ${bad.what}`)
      }
      // The client's configuration, as a user might log it, shows the password redacted.
      const databaseUrl = yield* Effect.promise(() => createDatabase("secrets"))
      const { password } = server()
      const config = yield* Effect.map(PgClient.PgClient, (client) => client.config).pipe(
        Effect.provide(Database.layer({ url: Redacted.make(databaseUrl) }))
      )
      expect(config.password).toBeDefined()
      for (const text of [inspect(config, { depth: 10 }), JSON.stringify(config), String(config.url), String(config.password)]) {
        expectAbsent(text, password, "the client's configuration")
      }
    }), { timeout: 60_000 })

  it.live("streams, consumers and the wake-up listener reconnecting after their connections were killed log no password", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* Effect.promise(() => createDatabase("secrets"))
      const { password } = server()
      const lines: Array<string> = []
      const runtime = ManagedRuntime.make(
        Layer.mergeAll(Documents.layer, DocumentChanges.layer({ pollInterval: Duration.millis(50) })).pipe(
          Layer.provideMerge(Database.layer({ url: Redacted.make(databaseUrl) })),
          Layer.provideMerge(capturingLogger(lines)),
          Layer.provideMerge(Logger.minimumLogLevel(LogLevel.All))
        )
      )
      yield* Effect.promise(() => runtime.runPromise(Migrations.run()))
      const workspaceId = randomUUID()
      const put = Effect.flatMap(Documents.Documents, (documents) =>
        documents.put({ kind: "input", workspaceId, name: `${randomUUID()}.txt`, version: { storageKey: "k", byteSize: 1 } }))
      let sentinel: string | undefined
      const feed = yield* Effect.promise(() => runtime.runPromise(DocumentChanges.DocumentChanges))
      const reader = runtime.runFork(feed.stream({ from: "now", workspaceId }).pipe(
        untilSentinel(() => sentinel),
        Stream.runDrain
      ))
      const consumer = runtime.runFork(feed.consume({ name: "secrets", workspaceId, handler: () => Effect.void }))
      const errors: Array<string> = []
      for (let round = 0; round < 3; round++) {
        yield* Effect.promise(() => runtime.runPromise(put))
        // Every connection of the library, the wake-up listener's included.
        yield* Effect.promise(() =>
          withClient(databaseUrl, (client) =>
            client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                          WHERE datname = current_database() AND pid <> pg_backend_pid()`))
        )
        // A put on a killed connection may fail: with a typed error that carries no password.
        const exit = yield* Effect.promise(() => runtime.runPromiseExit(put))
        if (Exit.isFailure(exit)) errors.push(...renderings(exit.cause))
      }
      sentinel = (yield* Effect.promise(() => runtime.runPromise(put))).document.id
      yield* Fiber.join(reader)
      yield* Fiber.interrupt(consumer)
      yield* Effect.promise(() => runtime.dispose())
      expect(lines.length).toBeGreaterThan(0)
      expectAbsent(lines.join("\n"), password, "the logs")
      expectAbsent(errors.join("\n"), password, "the errors")
    }), { timeout: 60_000 })

  it("docstore and tsx src/migrate.ts print no password, whatever is wrong with DATABASE_URL", async () => {
    // Every bad connection through `docstore migrate` (Debug logging on); the main ones through
    // `tsx src/migrate.ts` too, and a wrong password through a record-printing command.
    const main = ["a wrong password", "a database that does not exist", "an unreachable host", "a password that was not percent-encoded"]
    const runs = badConnections().flatMap((bad) => [
      { ...bad, script: "src/cli.ts", args: ["--log-level", "debug", "migrate"] },
      ...main.includes(bad.what) ? [{ ...bad, script: "src/migrate.ts", args: [] }] : [],
      ...bad.what === "a wrong password" ? [{ ...bad, script: "src/cli.ts", args: ["ls", "--workspace", randomUUID(), "--json"] }] : []
    ])
    // Four processes at a time.
    const results: Array<{ run: (typeof runs)[number]; ran: Ran }> = []
    for (let i = 0; i < runs.length; i += 4) {
      results.push(...await Promise.all(runs.slice(i, i + 4).map(async (run) => ({
        run,
        ran: await runScript(run.script, run.args, { DATABASE_URL: run.url })
      }))))
    }
    for (const { ran, run } of results) {
      const where = `${run.script} ${run.args.join(" ")} with ${run.what}`
      expect(ran.code, `${where}: ${ran.output}`).toBe(1)
      expect(ran.output, where).toMatch(/\S/)
      expectAbsent(ran.output, run.password, `the output of ${where}`)
      expect(ran.output, where).not.toMatch(/\bat .*\.ts:\d+/)
    }
    // The messages still say what is wrong.
    const said = (what: string) => results.find(({ run }) => run.what === what && run.script === "src/migrate.ts")!.ran.output
    expect(said("a wrong password")).toMatch(/password authentication failed for user "postgres"/)
    expect(said("a database that does not exist")).toMatch(/database "no_such_db" does not exist/)
    expect(said("an unreachable host")).toMatch(/ECONNREFUSED/)
  }, 240_000)

  it("the embedded default's notice and output show no password", async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-secrets-"))
    await fs.chmod(cwd, 0o755)
    const env = { DATABASE_URL: undefined, NODE_ENV: "development" }
    try {
      const migrated = await runScript("src/cli.ts", ["--log-level", "debug", "migrate"], env, cwd)
      expect(migrated.code, migrated.output).toBe(0)
      expect(migrated.output).toMatch(/DATABASE_URL is not set; using the embedded PostgreSQL in \.docstore\//)
      const listed = await runScript("src/cli.ts", ["ls", "--workspace", randomUUID()], env, cwd)
      const viaMigrate = await runScript("src/migrate.ts", ["status"], env, cwd)
      const { password } = JSON.parse(await fs.readFile(path.join(cwd, ".docstore", "server.json"), "utf8"))
      expect(password.length).toBeGreaterThanOrEqual(16)
      for (const ran of [migrated, listed, viaMigrate]) expectAbsent(ran.output, password, "the embedded default's output")
    } finally {
      await Embedded.stop(path.join(cwd, ".docstore"))
      await fs.rm(cwd, { recursive: true, force: true })
    }
  }, 120_000)
})
