/** Large files for the blob tests, written and hashed in chunks (never whole in memory), and a memory probe. */
import { createHash, randomBytes } from "node:crypto"
import { once } from "node:events"
import { createReadStream, createWriteStream } from "node:fs"
import * as v8 from "node:v8"
import * as vm from "node:vm"

/** Writes `size` random bytes to `file`, 1 MiB at a time. */
export const writeRandomFile = async (file: string, size: number): Promise<void> => {
  const out = createWriteStream(file)
  for (let written = 0; written < size;) {
    const chunk = randomBytes(Math.min(1024 * 1024, size - written))
    written += chunk.length
    if (!out.write(chunk)) await once(out, "drain")
  }
  out.end()
  await once(out, "finish")
}

export const sha256OfFile = async (file: string): Promise<string> => {
  const hash = createHash("sha256")
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest("hex")
}

export interface MemoryPeak {
  /**
   * Highest resident set size seen above the level when the probe started, in
   * bytes. It includes garbage that V8 has not collected yet (it collects
   * buffers' memory late, after tens of MB), so it bounds, but overstates,
   * what the operation holds.
   */
  readonly rss: number
  /**
   * Highest live memory (JavaScript heap plus buffers, measured right after a
   * forced full collection) above the starting level, in bytes: what the
   * operation actually holds at once.
   */
  readonly live: number
}

// A full collection on demand, without starting node with --expose-gc.
v8.setFlagsFromString("--expose-gc")
const collect = vm.runInNewContext("gc") as () => void

const liveBytes = () => {
  collect()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

/** Samples the process's memory while `body` runs: resident memory every 5 ms, live memory every 250 ms (each sample is a full collection). */
export const peakMemoryDuring = async <A>(body: () => Promise<A>): Promise<{ readonly result: A; readonly peak: MemoryPeak }> => {
  const startLive = liveBytes()
  const startRss = process.memoryUsage.rss()
  let rss = 0
  let live = 0
  const sampleRss = () => {
    rss = Math.max(rss, process.memoryUsage.rss() - startRss)
  }
  const sampleLive = () => {
    live = Math.max(live, liveBytes() - startLive)
  }
  const timers = [setInterval(sampleRss, 5), setInterval(sampleLive, 250)]
  try {
    const result = await body()
    sampleRss()
    return { result, peak: { rss, live } }
  } finally {
    for (const timer of timers) clearInterval(timer)
  }
}
