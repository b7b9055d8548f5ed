import { execFile } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, layer } from "./support/Database.js"

const exec = promisify(execFile)
const tsx = path.resolve("node_modules/.bin/tsx")
const cliScript = path.resolve("src/cli.ts")

interface Result {
  readonly code: number
  readonly stdout: Buffer
  readonly stderr: string
}

const docstore = (args: ReadonlyArray<string>, env: Record<string, string>, cwd: string) =>
  exec(tsx, [cliScript, ...args], { cwd, env: { ...process.env, ...env }, encoding: "buffer", maxBuffer: 64 * 1024 * 1024 }).then(
    ({ stderr, stdout }): Result => ({ code: 0, stdout, stderr: stderr.toString() }),
    (error: { code: number; stdout: Buffer; stderr: Buffer }): Result => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr.toString()
    })
  )

/** A database with every migration applied, and a working directory whose blob store is its own. */
const setUp = async () => {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-cli-blobs-"))
  const env = { DATABASE_URL: await createDatabase("cliblobs"), DOCSTORE_BLOBS_DIR: path.join(directory, "blobs") }
  await Effect.runPromise(Migrations.run().pipe(Effect.provide(layer(env.DATABASE_URL))))
  return { directory, env, run: (args: ReadonlyArray<string>) => docstore(args, env, directory) }
}

describe("docstore put / get / blobs gc", () => {
  it("stores a file's bytes with put and gives back identical bytes with get, to stdout or a file", async () => {
    const { directory, run } = await setUp()
    const workspace = randomUUID()
    const file = path.join(directory, "data.bin")
    const first = randomBytes(300 * 1024)
    await fs.writeFile(file, first)
    const put = await run(["put", file, "--workspace", workspace, "--json"])
    expect(put.code).toBe(0)
    const written = JSON.parse(put.stdout.toString())
    expect(written.version).toMatchObject({ byteSize: String(first.length), storageKey: `sha256/${written.version.sha256}` })
    const latest = await run(["get", written.document.id, "--workspace", workspace])
    expect(latest.code).toBe(0)
    expect(latest.stdout.equals(first)).toBe(true)
    const out = path.join(directory, "copy.bin")
    const toFile = await run(["get", written.document.id, "--workspace", workspace, "--version-no", "1", "-o", out])
    expect(toFile).toMatchObject({ code: 0, stderr: "" })
    expect((await fs.readFile(out)).equals(first)).toBe(true)

    // The blob is referenced: gc keeps it, whatever the grace period.
    const gc = await run(["blobs", "gc", "--grace", "0s", "--json"])
    expect(gc.code).toBe(0)
    expect(JSON.parse(gc.stdout.toString().trim())).toMatchObject({ type: "gc", scanned: 1, referenced: 1, removed: 0 })
    await fs.rm(directory, { recursive: true, force: true })
  })

  it("answers get of an unknown document or version with one line and exit code 3; --no-upload stores no bytes", async () => {
    const { directory, run } = await setUp()
    const workspace = randomUUID()
    const unknown = await run(["get", randomUUID(), "--workspace", workspace])
    expect(unknown.code).toBe(3)
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1)
    expect(unknown.stderr).toMatch(/^docstore: not found: no document [0-9a-f-]{36} in this workspace\n$/)

    const file = path.join(directory, "notes.txt")
    await fs.writeFile(file, "metadata only")
    const put = await run(["put", file, "--workspace", workspace, "--no-upload", "--json"])
    expect(put.code).toBe(0)
    const { document } = JSON.parse(put.stdout.toString())
    const missingVersion = await run(["get", document.id, "--workspace", workspace, "--version-no", "2", "-o", "out.txt"])
    expect(missingVersion.code).toBe(3)
    expect(missingVersion.stderr.trim().split("\n")).toHaveLength(1)
    expect(missingVersion.stderr).toMatch(/^docstore: not found: /)
    // The version is recorded, its bytes were never stored.
    const noBytes = await run(["get", document.id, "--workspace", workspace, "-o", "out.txt"])
    expect(noBytes.code).toBe(1)
    expect(noBytes.stderr).toMatch(/^docstore: BlobNotFound: no blob sha256\/[0-9a-f]{64}\n$/)
    await expect(fs.access(path.join(directory, "out.txt"))).rejects.toThrow()
    await fs.rm(directory, { recursive: true, force: true })
  })
})
