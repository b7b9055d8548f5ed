/**
 * The PostgreSQL server the benchmarks run on, and small helpers around bare
 * `pg` clients.
 *
 * `DATABASE_URL` set: that server is used; the benchmarks create and drop
 * their own databases on it and change nothing else. Unset: a fresh embedded
 * PostgreSQL 17 in a temporary directory, with the settings below
 * (durability on), stopped and removed afterwards, also when the benchmark fails.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import * as Embedded from "../src/internal/embedded.js"

export interface Server {
  /** URL of a database on the server that the benchmarks may connect to (not one they drop). */
  readonly url: string
  readonly description: string
}

/**
 * Durability stays on (fsync, full_page_writes, synchronous_commit). Memory
 * and checkpoint spacing are set as for a server prepared for a bulk job: with
 * the defaults (128 MB of shared buffers, a checkpoint every 1 GB of WAL) the
 * 1,000,000-document migration spent much of its time in checkpoints and
 * re-logged full pages, on both sides alike, and the benchmark run did not fit
 * in 20 minutes. The settings are read back from the server and reported.
 */
export const embeddedSettings: Readonly<Record<string, string>> = {
  shared_buffers: "1GB",
  max_wal_size: "16GB",
  checkpoint_timeout: "30min"
}

export const withServer = async <A>(
  log: (line: string) => void,
  body: (server: Server) => Promise<A>
): Promise<A> => {
  const configured = process.env.DATABASE_URL
  if (configured) {
    return body({ url: configured, description: "the server of DATABASE_URL" })
  }
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-bench-"))
  try {
    const started = Date.now()
    const server = await Embedded.ensure(directory, { database: "postgres", settings: embeddedSettings })
    log(`started an embedded PostgreSQL in ${directory} (port ${server.port}, ${Date.now() - started} ms)`)
    return await body({ url: server.url, description: "a fresh embedded PostgreSQL 17 in a temporary directory" })
  } finally {
    await Embedded.stop(directory).catch((error) => log(`could not stop the embedded server: ${String(error)}`))
    await fs.rm(directory, { recursive: true, force: true })
    log(`stopped the embedded PostgreSQL and removed ${directory}`)
  }
}

/** The URL of another database on the same server. */
export const databaseUrl = (serverUrl: string, database: string): string => {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

export const withClient = async <A>(url: string, body: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url })
  client.on("error", () => {})
  await client.connect()
  try {
    return await body(client)
  } finally {
    await client.end().catch(() => {})
  }
}

export const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(5).toString("hex")}`

export const quote = (identifier: string): string => `"${identifier.replaceAll("\"", "\"\"")}"`

/** Creates an empty database (from template0), or a copy of `template`. */
export const createDatabase = (serverUrl: string, name: string, template = "template0"): Promise<void> =>
  withClient(serverUrl, async (client) => {
    // FILE_COPY: a copy costs two checkpoints instead of WAL for every block of the copy, so the
    // timed phases that follow do not share the server with a flood of WAL from the copy.
    const strategy = template === "template0" ? "" : " STRATEGY FILE_COPY"
    await client.query(`CREATE DATABASE ${quote(name)} TEMPLATE ${quote(template)}${strategy}`)
  })

export const dropDatabase = (serverUrl: string, name: string): Promise<void> =>
  withClient(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`)
  })

export interface ServerFacts {
  readonly version: string
  readonly settings: ReadonlyArray<readonly [string, string]>
}

/** The settings that decide how fast bulk DDL and updates run. */
export const reportedSettings = [
  "fsync",
  "synchronous_commit",
  "full_page_writes",
  "shared_buffers",
  "work_mem",
  "maintenance_work_mem",
  "max_wal_size",
  "checkpoint_timeout"
] as const

export const serverFacts = (url: string): Promise<ServerFacts> =>
  withClient(url, async (client) => {
    const version = (await client.query<{ version: string }>("SELECT version()")).rows[0]!.version
    const settings: Array<readonly [string, string]> = []
    for (const name of reportedSettings) {
      const row = (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]!
      settings.push([name, row[name]!])
    }
    return { version, settings }
  })
