/**
 * The child-process subscriber of the feed benchmark (bench/feed.ts):
 * `node --import tsx bench/feedChild.ts <database url> feed|raw`.
 *
 * `feed`: a DocumentChanges stream (default options) from "now"; `raw`: the
 * bare-pg baseline subscriber (`rawListener` of bench/feed.ts). Prints JSON
 * lines on stdout: `{"t":"ready"}` once live, `{"t":"c","d":<document id>,"at":<ms>}`
 * when a document's version_added change arrives, `{"t":"pong","at":<ms>}` for
 * each `ping` line on stdin (clock calibration). Times are
 * `performance.timeOrigin + performance.now()`. Stops when stdin closes.
 */
import * as readline from "node:readline"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import { now, rawListener } from "./feed.js"

const [url, mode] = process.argv.slice(2)
if (url === undefined || (mode !== "feed" && mode !== "raw")) {
  process.stderr.write("usage: node --import tsx bench/feedChild.ts <database url> feed|raw\n")
  process.exit(2)
}

const send = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`)

const start = async (): Promise<() => Promise<void>> => {
  if (mode === "raw") {
    const listener = await rawListener(url, (d, at) => send({ t: "c", d, at }))
    send({ t: "ready" })
    return listener.stop
  }
  const runtime = ManagedRuntime.make(
    DocumentChanges.layer().pipe(
      Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 4 })),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
    )
  )
  const feed = await runtime.runPromise(DocumentChanges.DocumentChanges)
  const fiber = runtime.runFork(
    feed.stream({ from: "now" }).pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          if (event._tag === "Change") {
            if (event.change.op === "version_added") send({ t: "c", d: event.change.documentId, at: now() })
          } else if (event._tag === "CaughtUp") {
            send({ t: "ready" })
          }
        })
      )
    )
  )
  return async () => {
    await runtime.runPromise(Fiber.interrupt(fiber))
    await runtime.dispose()
  }
}

const stop = await start()
readline.createInterface({ input: process.stdin })
  .on("line", (line) => {
    if (line === "ping") send({ t: "pong", at: now() })
  })
  .on("close", () => {
    stop().then(() => process.exit(0), (error) => {
      process.stderr.write(`feed child: ${String(error)}\n`)
      process.exit(1)
    })
  })
