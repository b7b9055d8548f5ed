/**
 * The HTTP API (`docstore serve`) against the library called directly, in one
 * run on one database: requests/s of get and list (8 lanes each, node fetch
 * against a server in this process), catch-up rows/s over HTTP (catch-up
 * chunks of 10,000 JSON lines) against `DocumentChanges.stream`, and the
 * latency from a commit (`put` returned) to the SSE client receiving it.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { NodeContext } from "@effect/platform-node"
import * as PlatformHttpServer from "@effect/platform/HttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as ApiTokens from "../src/ApiTokens.js"
import * as BlobStore from "../src/BlobStore.js"
import * as Database from "../src/Database.js"
import * as DocumentBlobs from "../src/DocumentBlobs.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as HttpServer from "../src/HttpServer.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, databaseUrl, dropDatabase, uniqueName } from "./server.js"
import { median, newVersion, timedLanes } from "./stores.js"

export interface HttpBenchOptions {
  readonly serverUrl: string
  /** Requests per side for get and for list. */
  readonly requests: number
  /** Changes in the workspace the catch-up reads (two per document). */
  readonly changes: number
  readonly latencySamples: number
  readonly runs: number
  readonly log: (line: string) => void
}

export interface HttpRun {
  readonly get: { readonly library: number; readonly http: number }
  readonly list: { readonly library: number; readonly http: number }
  readonly catchUp: { readonly stream: number; readonly http: number }
}

export interface HttpBenchResult {
  readonly options: HttpBenchOptions
  readonly runs: ReadonlyArray<HttpRun>
  readonly latency: { readonly p50: number; readonly p99: number }
}

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

export const runHttpBench = async (options: HttpBenchOptions): Promise<HttpBenchResult> => {
  const name = uniqueName("bench_http")
  await createDatabase(options.serverUrl, name)
  const url = databaseUrl(options.serverUrl, name)
  const client = Database.layer({ url: Redacted.make(url), maxConnections: 16 })
  const blobRoot = await fs.mkdtemp(path.join(os.tmpdir(), "bench-http-blobs-"))
  const services = DocumentBlobs.layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(Documents.layer, DocumentChanges.layer(), ApiTokens.layer, BlobStore.layerFileSystem({ root: blobRoot }))
    ),
    Layer.provideMerge(client),
    Layer.provide(NodeContext.layer)
  )
  const runtime = ManagedRuntime.make(
    HttpServer.layerServe({ port: 0 }).pipe(Layer.provideMerge(services), Layer.provide(quiet))
  )
  try {
    await runtime.runPromise(Migrations.run())
    const address = await runtime.runPromise(Effect.map(PlatformHttpServer.HttpServer, (server) => server.address))
    const port = address._tag === "TcpAddress" ? address.port : 0
    const workspaceId = randomUUID()
    const base = `http://127.0.0.1:${port}/v1/workspaces/${workspaceId}`
    const secret = await runtime.runPromise(
      Effect.flatMap(ApiTokens.ApiTokens, (tokens) => tokens.create({ workspaceId })).pipe(
        Effect.map((created) => Redacted.value(created.secret))
      )
    )
    const headers = { authorization: `Bearer ${secret}` }
    const documents = await runtime.runPromise(Documents.Documents)
    const feed = await runtime.runPromise(DocumentChanges.DocumentChanges)
    const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

    options.log(`http: writing ${options.changes.toLocaleString("en-US")} changes`)
    const count = Math.ceil(options.changes / 2)
    for (let offset = 0; offset < count; offset += 10_000) {
      await run(documents.putMany(Array.from({ length: Math.min(10_000, count - offset) }, (_, i) => ({
        kind: "input" as const, workspaceId, name: `doc-${offset + i}.txt`, version: newVersion(offset + i)
      }))))
    }
    const ids = (await run(documents.list({ workspaceId, limit: 100 }))).documents.map((d) => d.id)
    const fetchJson = async (path: string) => {
      const response = await fetch(`${base}${path}`, { headers })
      if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}`)
      return response.text()
    }

    const catchUpStream = async () => {
      let rows = 0
      const started = performance.now()
      await run(feed.stream({ from: "beginning", workspaceId }).pipe(
        Stream.takeUntil((event) => event._tag === "CaughtUp"),
        Stream.runForEach((event) => Effect.sync(() => event._tag === "Change" && rows++))
      ))
      return rows / ((performance.now() - started) / 1000)
    }
    const catchUpHttp = async () => {
      let rows = 0
      let cursor = "beginning"
      const started = performance.now()
      while (true) {
        const response = await fetch(`${base}/changes?cursor=${cursor}&limit=10000`, { headers })
        const text = await response.text()
        if (response.status === 204) break
        rows += text.split("\n").length - 1
        cursor = response.headers.get("docstore-cursor")!
        if (response.headers.get("docstore-caught-up") === "true") break
      }
      return rows / ((performance.now() - started) / 1000)
    }

    const runs: Array<HttpRun> = []
    for (let r = 0; r < options.runs; r++) {
      options.log(`http: run ${r + 1} of ${options.runs}`)
      const pick = (i: number) => ids[i % ids.length]!
      runs.push({
        get: {
          library: await timedLanes(options.requests, 8, (i) => run(documents.get({ workspaceId, documentId: pick(i) }))),
          http: await timedLanes(options.requests, 8, (i) => fetchJson(`/documents/${pick(i)}`))
        },
        list: {
          library: await timedLanes(options.requests, 8, () => run(documents.list({ workspaceId, limit: 100 }))),
          http: await timedLanes(options.requests, 8, () => fetchJson(`/documents?limit=100`))
        },
        catchUp: { stream: await catchUpStream(), http: await catchUpHttp() }
      })
    }

    options.log(`http: commit-to-SSE latency, ${options.latencySamples} writes`)
    const latency = await sseLatency(`${base}/changes?cursor=now&live=sse`, headers, options.latencySamples, (i) =>
      run(documents.put({ kind: "input", workspaceId, name: `latency-${i}.txt`, version: newVersion(i) })).then((w) => w.document.id))
    return { options, runs, latency }
  } finally {
    await runtime.dispose()
    await dropDatabase(options.serverUrl, name)
    await fs.rm(blobRoot, { recursive: true, force: true })
  }
}

/** Writes one document at a time; the time from `put` returning to its version_added arriving over SSE. */
const sseLatency = async (
  url: string,
  headers: Record<string, string>,
  samples: number,
  write: (i: number) => Promise<string>
) => {
  const controller = new AbortController()
  const response = await fetch(url, { headers, signal: controller.signal })
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  const arrived = new Map<string, number>()
  let waiting: (() => void) | undefined
  const reading = (async () => {
    let buffer = ""
    try {
      while (true) {
        const { done, value } = await reader.read()
        if (done) return
        buffer += value
        for (const match of buffer.matchAll(/"documentId":"([0-9a-f-]+)","kind":"\w+","op":"version_added"/g)) {
          if (!arrived.has(match[1]!)) arrived.set(match[1]!, performance.now())
        }
        buffer = buffer.slice(buffer.lastIndexOf("\n\n") + 2)
        waiting?.()
      }
    } catch {
      // aborted at the end
    }
  })()
  const latencies: Array<number> = []
  for (let i = 0; i < samples; i++) {
    const documentId = await write(i)
    const committed = performance.now()
    while (!arrived.has(documentId)) await new Promise<void>((resolve) => (waiting = resolve))
    latencies.push(arrived.get(documentId)! - committed)
  }
  controller.abort()
  await reading
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) }
}

export const getRatio = (run: HttpRun) => run.get.http / run.get.library
export const listRatio = (run: HttpRun) => run.list.http / run.list.library
export const catchUpRatio = (run: HttpRun) => run.catchUp.http / run.catchUp.stream

export const formatHttp = (result: HttpBenchResult): string => {
  const f = (x: number) => x.toFixed(0)
  const row = (label: string, r: HttpRun) =>
    `| ${label} | ${f(r.get.library)} | ${f(r.get.http)} | ${getRatio(r).toFixed(2)} | ${f(r.list.library)} | ` +
    `${f(r.list.http)} | ${listRatio(r).toFixed(2)} | ${f(r.catchUp.stream)} | ${f(r.catchUp.http)} | ${catchUpRatio(r).toFixed(2)} |`
  const m = (pick: (r: HttpRun) => number) => median(result.runs.map(pick))
  const medianRun: HttpRun = {
    get: { library: m((r) => r.get.library), http: m((r) => r.get.http) },
    list: { library: m((r) => r.list.library), http: m((r) => r.list.http) },
    catchUp: { stream: m((r) => r.catchUp.stream), http: m((r) => r.catchUp.http) }
  }
  return [
    `${result.options.requests.toLocaleString("en-US")} requests per side for get and for list (a page of 100), 8 lanes; ` +
    `catch-up of ${result.options.changes.toLocaleString("en-US")} changes. Requests/s and rows/s; the ratio is HTTP / library.`,
    "",
    "| run | get: library | get: HTTP | ratio | list: library | list: HTTP | ratio | catch-up: Stream | catch-up: HTTP | ratio |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.runs.map((r, i) => row(String(i + 1), r)),
    row("**median**", medianRun),
    "",
    `Commit to SSE client (${result.options.latencySamples} writes, one at a time, the library's default 100 ms poll ` +
    `with its wake-up after its own commits): p50 ${result.latency.p50.toFixed(1)} ms, p99 ${result.latency.p99.toFixed(1)} ms.`
  ].join("\n")
}
