import { execFile, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import * as Embedded from "../src/internal/embedded.js"
import { createDatabase } from "./support/Database.js"

const exec = promisify(execFile)
const tsx = path.resolve("node_modules/.bin/tsx")
const cliScript = path.resolve("src/cli.ts")

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const docstore = (args: ReadonlyArray<string>, env: Record<string, string | undefined>, cwd = process.cwd()) =>
  exec(tsx, [cliScript, ...args], { cwd, env: { ...process.env, ...env } }).then(
    ({ stderr, stdout }): Result => ({ code: 0, stdout, stderr }),
    (error: Result): Result => ({ code: error.code, stdout: error.stdout, stderr: error.stderr })
  )

const jsonLines = (stdout: string) => stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line))

describe("docstore CLI", () => {
  it("is a module that runs nothing when imported: its command tree and main are values", async () => {
    const cli = await import("../src/cli.js")
    expect(typeof cli.main).toBe("function")
    expect(cli.docstore).toBeDefined()
  })

  it("puts, lists, shows, lists versions and prints changes as JSON lines, resuming with --since", async () => {
    const env = { DATABASE_URL: await createDatabase("cli") }
    expect((await docstore(["migrate"], env)).code).toBe(0)
    const workspace = randomUUID()
    const directory = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-files-"))
    const report = path.join(directory, "Report.pdf")
    await fs.writeFile(report, "%PDF-1.7 first")

    const first = await docstore(["put", report, "--workspace", workspace, "--json"], env)
    expect(first.code).toBe(0)
    const [written] = jsonLines(first.stdout)
    expect(written).toMatchObject({
      document: { kind: "input", name: "Report.pdf", nameKey: "report.pdf", workspaceId: workspace },
      version: { versionNo: 1, byteSize: "14", sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      replayed: false
    })
    await fs.writeFile(report, "%PDF-1.7 second, longer")
    const second = await docstore(["put", report, "--workspace", workspace, "--name", " REPORT.pdf", "--json"], env)
    expect(jsonLines(second.stdout)[0]).toMatchObject({ document: { id: written.document.id }, version: { versionNo: 2 } })
    const log = await docstore(
      ["put", report, "--workspace", workspace, "--kind", "log", "--run", randomUUID(), "--name", "run.log"],
      env
    )
    expect(log.stdout).toMatch(/^stored log [0-9a-f-]{36} version 1 \(23 bytes, text\/plain\) as "run.log"$/m)

    const listed = jsonLines((await docstore(["ls", "--workspace", workspace, "--json"], env)).stdout)
    expect(listed.map((d) => d.name).sort()).toEqual(["Report.pdf", "run.log"])
    const human = await docstore(["ls", "--workspace", workspace], env)
    expect(human.stdout.split("\n")[0]).toMatch(/^ID +KIND +UPDATED +NAME$/)

    const shown = jsonLines((await docstore(["show", written.document.id, "--workspace", workspace, "--json"], env)).stdout)
    expect(shown[0]).toMatchObject({ id: written.document.id, latestVersion: { versionNo: 2 } })
    const versions = jsonLines((await docstore(["versions", written.document.id, "--workspace", workspace, "--json"], env)).stdout)
    expect(versions.map((v) => v.versionNo)).toEqual([1, 2])

    const changes = jsonLines((await docstore(["changes", "--workspace", workspace, "--json"], env)).stdout)
    expect(changes.at(-1)).toMatchObject({ type: "caught-up", cursor: expect.any(String) })
    const recorded = changes.filter((line) => line.type === "change")
    expect(recorded.map((c) => c.op)).toEqual(["created", "version_added", "version_added", "created", "version_added"])
    for (const change of recorded) expect(change.cursor).toMatch(/^[A-Za-z0-9_-]+$/)
    const resumed = jsonLines(
      (await docstore(["changes", "--workspace", workspace, "--since", recorded[1].cursor, "--json"], env)).stdout
    ).filter((line) => line.type === "change")
    expect(resumed.map((c) => c.id)).toEqual(recorded.slice(2).map((c) => c.id))
    const limited = jsonLines((await docstore(["changes", "--workspace", workspace, "--limit", "2", "--json"], env)).stdout)
    expect(limited.filter((line) => line.type === "change")).toHaveLength(2)
    await fs.rm(directory, { recursive: true, force: true })
  })

  it("answers bad arguments with one line and exit code 2, a missing document with not found and exit code 3", async () => {
    const env = { DATABASE_URL: await createDatabase("cli") }
    await docstore(["migrate"], env)
    const badWorkspace = await docstore(["ls", "--workspace", "not-a-uuid"], env)
    expect(badWorkspace.code).toBe(2)
    expect(badWorkspace.stderr.trim().split("\n")).toHaveLength(1)
    expect(badWorkspace.stderr).toMatch(/^docstore: invalid input: workspaceId /)
    const badAge = await docstore(["prune", "--older-than", "banana"], env)
    expect(badAge.code).toBe(2)
    expect(badAge.stdout + badAge.stderr).toMatch(/"banana" is not an age/)
    const badCursor = await docstore(["changes", "--since", "garbage"], env)
    expect(badCursor.code).toBe(2)
    expect(badCursor.stderr.trim()).toMatch(/^docstore: InvalidCursor: the cursor is not a feed cursor/)
    const missing = await docstore(["show", randomUUID(), "--workspace", randomUUID()], env)
    expect(missing.code).toBe(3)
    expect(missing.stderr.trim()).toMatch(/^docstore: not found: no document [0-9a-f-]{36} in this workspace$/)
    expect(missing.stderr).not.toMatch(/\bat .*\.ts:\d+/)
    const pruned = await docstore(["prune", "--older-than", "30d"], env)
    expect(pruned).toMatchObject({ code: 0 })
    expect(pruned.stdout).toMatch(/^pruned 0 change\(s\) older than 30d/)
  })

  it("server stop stops the embedded default, keeping its data; the next command starts it again", async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-stop-"))
    await fs.chmod(cwd, 0o755)
    const env = { DATABASE_URL: undefined, NODE_ENV: "development" }
    const pid = path.join(cwd, ".docstore", "data", "postmaster.pid")
    try {
      expect((await docstore(["migrate"], env, cwd)).code).toBe(0)
      await fs.access(pid)
      const stopped = await docstore(["server", "stop"], env, cwd)
      expect(stopped).toMatchObject({ code: 0, stdout: expect.stringMatching(/stopped the embedded PostgreSQL/) })
      await expect(fs.access(pid)).rejects.toThrow()
      const again = await docstore(["migrate", "status"], env, cwd)
      expect(again.code).toBe(0)
      expect(again.stdout).toMatch(/ applied, 0 pending\./)
    } finally {
      await Embedded.stop(path.join(cwd, ".docstore"))
      await fs.rm(cwd, { recursive: true, force: true })
    }
  })

  it("shares the embedded default between two processes: one follows, the other puts", async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-tour-"))
    await fs.chmod(cwd, 0o755)
    const env = { DATABASE_URL: undefined, NODE_ENV: "development" }
    try {
      expect((await docstore(["migrate"], env, cwd)).code).toBe(0)
      const workspace = randomUUID()
      const follower = spawn(tsx, [cliScript, "changes", "--follow", "--from-now", "--workspace", workspace, "--json"], {
        cwd,
        env: { ...process.env, ...env }
      })
      let out = ""
      let err = ""
      follower.stdout.on("data", (chunk) => (out += chunk))
      follower.stderr.on("data", (chunk) => (err += chunk))
      const waitFor = async (test: () => boolean, what: string) => {
        const deadline = Date.now() + 30_000
        while (!test()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${out} ${err}`)
          await new Promise((resolve) => setTimeout(resolve, 25))
        }
      }
      await waitFor(() => out.includes(`"type":"caught-up"`), "the follower to catch up")
      const file = path.join(cwd, "notes.txt")
      await fs.writeFile(file, "hello")
      const put = await docstore(["put", file, "--workspace", workspace], env, cwd)
      expect(put.code).toBe(0)
      expect(put.stderr).toMatch(/already running/)
      await waitFor(() => out.includes(`"op":"version_added"`), "the follower to print the change")
      const exited = new Promise<number | null>((resolve) => follower.on("exit", resolve))
      follower.kill("SIGINT")
      expect(await exited).toBe(0)
      const lines = jsonLines(out)
      expect(lines.filter((line) => line.type === "change").map((line) => line.op)).toEqual(["created", "version_added"])
      expect(err).toMatch(/last cursor: [A-Za-z0-9_-]+/)
    } finally {
      await Embedded.stop(path.join(cwd, ".docstore"))
      await fs.rm(cwd, { recursive: true, force: true })
    }
  })

  it("npm start runs the demo: live changes, then a summary, exit 0, and again", async () => {
    const env = { DATABASE_URL: await createDatabase("demo") }
    for (let run = 0; run < 2; run++) {
      const { stdout } = await exec("npm", ["start", "--silent"], { env: { ...process.env, ...env } })
      expect(stdout).toMatch(/^put input {3}Report\.pdf$/m)
      expect(stdout.match(/^ {2}change {2}/gm)).toHaveLength(9)
      expect(stdout).toMatch(/^ {2}change .* version_added +input +[0-9a-f-]{36} +v2$/m)
      expect(stdout).toMatch(/^ {2}input +Report\.pdf +2 /m)
      expect(stdout).toMatch(/^4 documents, 5 versions in workspace /m)
      expect(stdout).toMatch(/^download Report\.pdf v1: 48213 bytes, sha256 verified$/m)
    }
  })
})
