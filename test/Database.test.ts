import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import { migrations as history } from "../migrations/index.js"
import * as Embedded from "../src/internal/embedded.js"
import { layerFresh } from "./support/Database.js"

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
