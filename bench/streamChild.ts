/**
 * The importing process of the bulk benchmark's memory measure:
 * `node --import tsx bench/streamChild.ts <database url> <versions>`.
 *
 * Imports `versions` versions (new documents, two each, ten workspaces) with
 * `Documents.putStream` from a stream that makes each request as it is read,
 * so that the process holds what putStream holds, and prints one JSON line:
 * the import's rate, and this process's RSS and heap before it and at their
 * peak during it (sampled every 10 ms).
 */
import { randomUUID } from "node:crypto"
import * as Stream from "effect/Stream"
import * as Documents from "../src/Documents.js"
import { documentsRuntime } from "./stores.js"

export interface StreamReport {
  readonly versions: number
  readonly versionsPerSecond: number
  readonly rssBeforeBytes: number
  readonly rssPeakBytes: number
  readonly heapBeforeBytes: number
  readonly heapPeakBytes: number
}

const [url, count] = [process.argv[2], Number(process.argv[3])]
if (url === undefined || !(count > 0)) {
  process.stderr.write("usage: node --import tsx bench/streamChild.ts <database url> <versions>\n")
  process.exit(2)
}

const workspaces = Array.from({ length: 10 }, () => randomUUID())
const label = randomUUID().slice(0, 8)
const requests = Stream.range(0, count - 1).pipe(
  Stream.map((i): Documents.PutRequest => {
    const d = Math.floor(i / 2)
    return {
      kind: "input",
      workspaceId: workspaces[d % workspaces.length]!,
      name: `${label}-${d}.csv`,
      version: { id: randomUUID(), storageKey: `bench/stream/${label}/${i}`, byteSize: 1000 + d }
    }
  })
)

const runtime = documentsRuntime(url, 2)
const documents = await runtime.runPromise(Documents.Documents)
// A small import first, so that what a first call loads counts as before.
await runtime.runPromise(documents.putStream(Stream.take(requests, 1_000).pipe(Stream.map((r) => ({ ...r, name: `warm-${r.name}` })))))
const before = process.memoryUsage()
let rssPeak = before.rss
let heapPeak = before.heapUsed
const sample = () => {
  const now = process.memoryUsage()
  rssPeak = Math.max(rssPeak, now.rss)
  heapPeak = Math.max(heapPeak, now.heapUsed)
}
const sampler = setInterval(sample, 10)
const started = performance.now()
const streamed = await runtime.runPromise(documents.putStream(requests))
const seconds = (performance.now() - started) / 1000
clearInterval(sampler)
sample()
await runtime.dispose()
if (streamed.written !== count) throw new Error(`putStream wrote ${streamed.written} of ${count}`)
const report: StreamReport = {
  versions: count,
  versionsPerSecond: count / seconds,
  rssBeforeBytes: before.rss,
  rssPeakBytes: rssPeak,
  heapBeforeBytes: before.heapUsed,
  heapPeakBytes: heapPeak
}
process.stdout.write(`${JSON.stringify(report)}\n`)
