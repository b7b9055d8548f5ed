/**
 * PostgreSQL clusters of a test's own, beside the run's server: a fresh one
 * (the target of a logical restore), and a streaming standby of one (as in
 * bench/standby.ts). Each lives in a temporary directory on 127.0.0.1, on a
 * free port; `stop` stops it and removes the directory.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import * as Embedded from "../../src/internal/embedded.js"

export interface Cluster {
  readonly directory: string
  readonly url: string
  readonly stop: () => Promise<void>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })

const base = async () => {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-cluster-"))
  await fs.chmod(directory, 0o755)
  return directory
}

const stopper = (root: string, directory: string) => async () => {
  await Embedded.stop(directory).catch(() => undefined)
  await fs.rm(root, { recursive: true, force: true })
}

/** A new cluster (its own initdb: a new system identifier, a transaction counter at its start). */
export const start = async (settings: Readonly<Record<string, string>> = {}): Promise<Cluster> => {
  const root = await base()
  const directory = path.join(root, "cluster")
  const server = await Embedded.ensure(directory, { database: "docstore", settings: { fsync: "off", ...settings } })
  return { directory, url: server.url, stop: stopper(root, directory) }
}

/** Settings a primary needs to feed a standby. */
export const primarySettings = { wal_level: "replica", max_wal_senders: "4", wal_keep_size: "256MB" } as const

/**
 * A hot standby of `primary` (started with `primarySettings`), from a base backup taken with the
 * low-level backup API and a file copy: a physical copy, same system identifier, same history.
 */
export const standbyOf = async (primary: Cluster): Promise<Cluster> => {
  const root = await base()
  const directory = path.join(root, "standby")
  const admin = new pg.Client({ connectionString: primary.url })
  await admin.connect()
  try {
    await admin.query("SELECT pg_backup_start('standby', true)")
    execFileSync("cp", ["-a", primary.directory, directory])
    const { rows: [stopped] } = await admin.query("SELECT labelfile FROM pg_backup_stop(false)")
    const data = path.join(directory, "data")
    await fs.rm(path.join(data, "postmaster.pid"), { force: true })
    await fs.writeFile(path.join(data, "backup_label"), stopped.labelfile)
    await fs.writeFile(path.join(data, "standby.signal"), "")
    const server = JSON.parse(await fs.readFile(path.join(directory, "server.json"), "utf8"))
    await fs.appendFile(
      path.join(data, "postgresql.auto.conf"),
      `primary_conninfo = 'host=127.0.0.1 port=${server.port} user=postgres password=${server.password}'\n`
    )
    await fs.writeFile(path.join(directory, "server.json"), JSON.stringify({ ...server, port: await freePort() }))
    if (process.getuid?.() === 0) execFileSync("chown", ["-R", "postgres:postgres", data])
  } finally {
    await admin.end()
  }
  const standby = await Embedded.ensure(directory, { settings: { hot_standby: "on", fsync: "off" } })
  return { directory, url: standby.url, stop: stopper(root, directory) }
}

/** One statement on a fresh connection. */
export const query = async <R extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  text: string,
  values: ReadonlyArray<unknown> = []
): Promise<Array<R>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(text, values as Array<unknown>)).rows
  } finally {
    await client.end()
  }
}

/** Polls `condition` every 20 ms until it holds, or fails after `timeoutMillis`. */
export const until = async (condition: () => Promise<boolean>, what: string, timeoutMillis = 30_000) => {
  const deadline = Date.now() + timeoutMillis
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export interface SwitchingProxy {
  /** The same URL (credentials, database) through the proxy. */
  readonly url: (databaseUrl: string) => string
  /** From now on forwards to `databaseUrl`'s server, and resets every open connection (as a failover would). */
  readonly switchTo: (databaseUrl: string) => void
  readonly close: () => Promise<void>
}

/** A TCP proxy on 127.0.0.1 in front of one server, then another: a database swapped under its URL. */
export const switchingProxy = async (databaseUrl: string): Promise<SwitchingProxy> => {
  let port = Number(new URL(databaseUrl).port)
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1")
    const close = () => {
      for (const socket of [client, upstream]) {
        socket.destroy()
        sockets.delete(socket)
      }
    }
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on("error", close).on("close", close)
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const own = (server.address() as net.AddressInfo).port
  return {
    url: (url) => {
      const through = new URL(url)
      through.port = String(own)
      return through.toString()
    },
    switchTo: (url) => {
      port = Number(new URL(url).port)
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}
