import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import pg from "pg"
import { migrations as history } from "../migrations/index.js"
import * as Database from "../src/Database.js"
import * as Embedded from "../src/internal/embedded.js"
import * as Wakeup from "../src/internal/pg/wakeup.js"
import { createDatabase, layer, layerFresh } from "./support/Database.js"

const run = promisify(execFile)
const tsx = path.resolve("node_modules/.bin/tsx")
const migrateScript = path.resolve("src/migrate.ts")

const migrateIn = (cwd: string, env: Record<string, string | undefined>) =>
  run(tsx, [migrateScript], { cwd, env: { ...process.env, DATABASE_URL: undefined, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr
    })
  )

describe("Database.layer", () => {
  it.layer(layerFresh)((it) => {
    it.effect("decodes int8 as bigint", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql<{ big: bigint; total: bigint; list: Array<bigint> }>`
          SELECT 9007199254740993::int8 AS big, count(*) AS total, ARRAY[1, 2]::int8[] AS list
          FROM generate_series(1, 3)`
        expect(row).toEqual({ big: 9007199254740993n, total: 3n, list: [1n, 2n] })
      }))

    it.effect("speaks snake_case to SQL and camelCase to TypeScript, leaving JSON alone", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql<{ nameKey: string; payload: unknown }>`
          SELECT 'k' AS name_key, '{"snake_case": 1}'::jsonb AS payload`
        expect(row).toEqual({ nameKey: "k", payload: { snake_case: 1 } })
        const [identifier] = yield* sql<{ sourceFileId: number }>`SELECT 1 AS ${sql("sourceFileId")}`
        expect(identifier).toEqual({ sourceFileId: 1 })
      }))

    it.effect("puts the pg pool it built into the context, as the pool of its own client", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const registered = yield* Database.Pool
        expect(registered.client).toBe(sql)
        const { rows } = yield* Effect.promise(() => registered.pool.query("SELECT current_setting('application_name') AS name"))
        expect(rows).toEqual([{ name: "effect-docstore" }])
      }))
  })

  it("opens the wake-up LISTEN connection with the pool's own options: the URL's sslmode and options stay", async () => {
    const url = new URL(await createDatabase())
    url.searchParams.set("sslmode", "disable")
    url.searchParams.set("options", "-c search_path=pg_catalog,public -c lock_timeout=4321")
    const options = await Effect.runPromise(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // The library's own connections get the options too.
        const [row] = yield* sql<{ lockTimeout: string }>`SELECT current_setting('lock_timeout') AS lock_timeout`
        expect(row).toEqual({ lockTimeout: "4321ms" })
        return yield* Wakeup.listenOptions(sql, (yield* PgClient.PgClient).config)
      }).pipe(Effect.scoped, Effect.provide(layer(url.toString())))
    )
    const client = new pg.Client(options)
    expect((client as unknown as { connectionParameters: unknown }).connectionParameters).toMatchObject({ ssl: false, options: "-c search_path=pg_catalog,public -c lock_timeout=4321" })
    await client.connect()
    try {
      const { rows } = await client.query(
        "SELECT current_setting('search_path') AS search_path, current_setting('lock_timeout') AS lock_timeout, " +
          "current_setting('application_name') AS application_name"
      )
      expect(rows).toEqual([{ search_path: "pg_catalog,public", lock_timeout: "4321ms", application_name: "effect-docstore wake-up" }])
    } finally {
      await client.end()
    }
  })
})

describe("src/migrate.ts", () => {
  it("runs from a checkout whose path contains a space", async () => {
    const checkout = await fs.mkdtemp(path.join(os.tmpdir(), "docstore check out "))
    try {
      for (const part of ["src", "migrations", "package.json", "tsconfig.json"]) {
        await fs.cp(path.resolve(part), path.join(checkout, part), { recursive: true })
      }
      await fs.symlink(path.resolve("node_modules"), path.join(checkout, "node_modules"))
      const env = { ...process.env, DATABASE_URL: await createDatabase("space") }
      const script = path.join(checkout, "src", "migrate.ts")
      const first = await run(tsx, [script], { cwd: checkout, env })
      expect(first.stdout).toContain(`Migrated: ${Object.keys(history).length} step(s)`)
      const status = await run(tsx, [script, "status"], { cwd: checkout, env })
      expect(status.stdout).toContain(`${Object.keys(history).length} applied, 0 pending.`)
    } finally {
      await fs.rm(checkout, { recursive: true, force: true })
    }
  })
})

describe("the embedded default", () => {
  it("starts once under .docstore/ and is shared by two processes started together", async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-cwd-"))
    await fs.chmod(cwd, 0o755)
    try {
      const [a, b] = await Promise.all([migrateIn(cwd, {}), migrateIn(cwd, {})])
      expect([a.code, b.code]).toEqual([0, 0])
      for (const result of [a, b]) expect(result.stderr).toMatch(/using the embedded PostgreSQL in \.docstore\//)
      expect([a.stderr, b.stderr].filter((err) => err.includes("started now"))).toHaveLength(1)
      expect([a.stdout, b.stdout].filter((out) => out.includes(`Migrated: ${Object.keys(history).length} step(s)`))).toHaveLength(1)
      expect([a.stdout, b.stdout].filter((out) => out.includes("Nothing pending"))).toHaveLength(1)
      const server = JSON.parse(await fs.readFile(path.join(cwd, ".docstore", "server.json"), "utf8"))
      // The password stays in the state file; it is never printed.
      for (const result of [a, b]) expect(result.stderr + result.stdout).not.toContain(server.password)
      const again = await migrateIn(cwd, {})
      expect(again.stderr).toMatch(/already running/)
      expect(again.stdout).toMatch(/Nothing pending/)
    } finally {
      await Embedded.stop(path.join(cwd, ".docstore"))
      await fs.rm(cwd, { recursive: true, force: true })
    }
  })

  it("is never started in production: a missing DATABASE_URL is an error", async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-prod-"))
    try {
      const result = await migrateIn(cwd, { NODE_ENV: "production" })
      expect(result.code).toBe(1)
      expect(result.stderr.trim()).toBe(
        "DATABASE_URL is not set. In production (NODE_ENV=production) no embedded database is started."
      )
      await expect(fs.access(path.join(cwd, ".docstore"))).rejects.toThrow()
    } finally {
      await fs.rm(cwd, { recursive: true, force: true })
    }
  })

  it("reports an unreachable server in one line, without the password", async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-down-"))
    try {
      const result = await migrateIn(cwd, { DATABASE_URL: "postgres://app:s3cret-pw@127.0.0.1:1/docstore" })
      expect(result.code).toBe(1)
      expect(result.stderr.trim().split("\n")).toHaveLength(1)
      expect(result.stderr).toMatch(/ECONNREFUSED/)
      expect(result.stderr).not.toContain("s3cret-pw")
    } finally {
      await fs.rm(cwd, { recursive: true, force: true })
    }
  })
})
