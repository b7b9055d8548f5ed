/** Large files for the blob tests, written and hashed in chunks (never whole in memory), and a memory probe. */
import { createHash, randomBytes } from "node:crypto"
import { createReadStream, createWriteStream } from "node:fs"
import { once } from "node:events"

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
   * bytes. (Heap plus buffer counts are no good measure: they include garbage
   * that the next collection frees.)
   */
  readonly rss: number
}

/** Samples the process's memory every few milliseconds while `body` runs. */
export const peakMemoryDuring = async <A>(body: () => Promise<A>): Promise<{ readonly result: A; readonly peak: MemoryPeak }> => {
  const start = process.memoryUsage.rss()
  let rss = 0
  const sample = () => {
    rss = Math.max(rss, process.memoryUsage.rss() - start)
  }
  const timer = setInterval(sample, 5)
  try {
    const result = await body()
    sample()
    return { result, peak: { rss } }
  } finally {
    clearInterval(timer)
  }
}
