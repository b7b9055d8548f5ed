/**
 * Single-document write throughput: `Documents.put` (one new document with its
 * first version per transaction) against bare `pg` issuing the same
 * statements on a pool of the same size, side by side in one run.
 */
import { randomUUID } from "node:crypto"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as Documents from "../src/Documents.js"
import * as Migrations from "../src/Migrations.js"

export interface WritesOptions {
  /** A server URL on which the benchmark may create and drop databases. */
  readonly serverUrl: string
  readonly writes?: number
  readonly workers?: number
  readonly runs?: number
  readonly log?: (line: string) => void
}

export interface WritesResult {
  readonly writes: number
  readonly workers: number
  readonly runs: ReadonlyArray<{ readonly service: number; readonly bare: number }>
  readonly service: number
  readonly bare: number
  readonly ratio: number
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const withDatabase = async <A>(serverUrl: string, body: (url: string) => Promise<A>): Promise<A> => {
  const name = `bench_writes_${randomUUID().slice(0, 8)}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  try {
    return await body(url.toString())
  } finally {
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`)
    await admin.end()
  }
}

/** Runs `count` writes over `workers` concurrent lanes; returns writes per second. */
const timed = async (count: number, workers: number, write: (i: number) => Promise<unknown>) => {
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: workers }, async () => {
    while (next < count) await write(next++)
  }))
  return count / ((performance.now() - started) / 1000)
}

const versionOf = (i: number) => ({ storageKey: `bench/${i}/${randomUUID()}`, byteSize: 1000 + i })

export const runWritesBench = async (options: WritesOptions): Promise<WritesResult> => {
  const writes = options.writes ?? 5_000
  const workers = options.workers ?? 8
  const runs = options.runs ?? 3
  const log = options.log ?? (() => {})
  return withDatabase(options.serverUrl, async (url) => {
    const runtime = ManagedRuntime.make(
      Documents.layer.pipe(Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: workers })))
    )
    const pool = new pg.Pool({ connectionString: url, max: workers })
    try {
      await runtime.runPromise(Migrations.run())
      const documents = await runtime.runPromise(Documents.Documents)
      const workspaceId = randomUUID()
      const service = (i: number) =>
        runtime.runPromise(documents.put({ kind: "input", workspaceId, name: `service-${i}-${randomUUID()}.pdf`, version: versionOf(i) }))
      // The statements Documents.put sends for a new input, in the same transaction shape.
      const bare = async (i: number) => {
        const client = await pool.connect()
        try {
          const name = `bare-${i}-${randomUUID()}.pdf`
          const version = versionOf(i)
          await client.query("BEGIN")
          const { rows: [file] } = await client.query(
            `INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
             VALUES ($1, $2, 'input', $3, $4, NULL, NULL)
             ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()
             RETURNING *`,
            [randomUUID(), workspaceId, name, name.toLowerCase()]
          )
          await client.query(
            `INSERT INTO file_versions (id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256)
             SELECT $1, $2, coalesce(max(version_no), 0) + 1, $3, NULL, NULL, $4, NULL
             FROM file_versions WHERE file_id = $2
             RETURNING *`,
            [randomUUID(), file.id, version.storageKey, version.byteSize]
          )
          await client.query("COMMIT")
        } finally {
          client.release()
        }
      }
      // Warm both paths (connections, plans, JIT) before measuring.
      await timed(Math.min(200, writes), workers, service)
      await timed(Math.min(200, writes), workers, bare)
      const results: Array<{ service: number; bare: number }> = []
      for (let run = 0; run < runs; run++) {
        // Alternate which goes first, so drift on a noisy machine hits both.
        const first = run % 2 === 0
        const a = await timed(writes, workers, first ? service : bare)
        const b = await timed(writes, workers, first ? bare : service)
        const result = first ? { service: a, bare: b } : { service: b, bare: a }
        results.push(result)
        log(`writes run ${run + 1}: service ${result.service.toFixed(0)}/s, bare pg ${result.bare.toFixed(0)}/s`)
      }
      const service_ = median(results.map((r) => r.service))
      const bare_ = median(results.map((r) => r.bare))
      return {
        writes,
        workers,
        runs: results,
        service: service_,
        bare: bare_,
        ratio: median(results.map((r) => r.service / r.bare))
      }
    } finally {
      await pool.end()
      await runtime.dispose()
    }
  })
}
