/**
 * `docstore token ...` and `docstore serve` as an operator runs them: a token
 * made on the command line opens the API of a server started on a free port,
 * and stops opening it once revoked.
 */
import { execFile, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Database from "../src/Database.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase } from "./support/Database.js"
import { eventually } from "./support/feedClients.js"

const exec = promisify(execFile)
const tsx = path.resolve("node_modules/.bin/tsx")
const cliScript = path.resolve("src/cli.ts")

const docstore = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  exec(tsx, [cliScript, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout })
  )

describe("docstore serve and docstore token", () => {
  it("serves the API to a token made on the command line, until it is revoked", async () => {
    const env = { DATABASE_URL: await createDatabase("cli_serve") }
    // Migrated in-process: every CLI start costs seconds here.
    const migrator = ManagedRuntime.make(Database.layer({ url: Redacted.make(env.DATABASE_URL) }))
    await migrator.runPromise(Migrations.run())
    await migrator.dispose()
    const workspace = randomUUID()
    const created = await docstore(["token", "create", "--workspace", workspace, "--label", "ci", "--json"], env)
    expect(created.code).toBe(0)
    const token = JSON.parse(created.stdout) as { id: string; token: string; workspaceId: string }
    expect(token).toMatchObject({ workspaceId: workspace, token: expect.stringMatching(/^dst_/) })

    const server = spawn(tsx, [cliScript, "serve", "--port", "0"], { env: { ...process.env, ...env } })
    let stderr = ""
    server.stderr.on("data", (chunk) => (stderr += chunk))
    const exited = new Promise((resolve) => server.on("exit", resolve))
    try {
      await eventually(() => /serving http:\/\/[\d.]+:\d+/.test(stderr), 60_000, "the server to listen")
      const base = /serving (http:\/\/[\d.]+:\d+)/.exec(stderr)![1]
      const list = () =>
        fetch(`${base}/v1/workspaces/${workspace}/documents`, { headers: { authorization: `Bearer ${token.token}` } })
      expect((await list()).status).toBe(200)
      expect((await fetch(`${base}/openapi.json`)).status).toBe(200)
      expect(await (await fetch(`${base}/`)).text()).toContain("<title>docstore</title>")
      expect((await docstore(["token", "revoke", token.id], env)).code).toBe(0)
      expect((await list()).status).toBe(401)
    } finally {
      server.kill("SIGINT")
      await exited
    }
  })
})
