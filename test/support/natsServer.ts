/**
 * A real `nats-server -js` (the Debian package) for one test file: on
 * 127.0.0.1, a free port, a temporary store directory; `stop` and `start`
 * again keep both, so JetStream's data survives the restart; `remove` stops it
 * and deletes the directory.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface NatsServer {
  readonly url: string
  readonly port: number
  readonly storeDir: string
  readonly start: () => Promise<void>
  readonly stop: () => Promise<void>
  readonly remove: () => Promise<void>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

// Debian installs it in /usr/sbin, which a non-root PATH may lack.
const binary = process.env.NATS_SERVER_BIN ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server")

/** Starts a server and resolves once it logs that it is ready (at most 20 s). */
export const startNatsServer = async (): Promise<NatsServer> => {
  const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-nats-"))
  const port = await freePort()
  let child: ChildProcess | undefined

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const process = spawn(binary, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], {
        stdio: ["ignore", "ignore", "pipe"]
      })
      child = process
      let log = ""
      const timer = setTimeout(() => {
        process.kill("SIGKILL")
        reject(new Error(`nats-server did not get ready within 20 s:\n${log}`))
      }, 20_000)
      process.on("error", (error) => {
        clearTimeout(timer)
        reject(error)
      })
      process.on("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`nats-server exited with ${code}:\n${log}`))
      })
      process.stderr!.on("data", (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes("Server is ready")) {
          clearTimeout(timer)
          resolve()
        }
      })
    })

  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once("exit", resolve))
    running.kill("SIGTERM")
    const timer = setTimeout(() => running.kill("SIGKILL"), 10_000)
    await exited
    clearTimeout(timer)
  }

  await start()
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    start,
    stop,
    remove: async () => {
      await stop()
      await fs.rm(storeDir, { recursive: true, force: true })
    }
  }
}
