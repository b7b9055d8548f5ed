/**
 * Migrated databases for the write benchmarks, and the bare-pg statements
 * that `Documents.put` / `putMany` send, for the baselines.
 */
import { randomUUID } from "node:crypto"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import * as Database from "../src/Database.js"
import * as Documents from "../src/Documents.js"
import * as Migrations from "../src/Migrations.js"
import { createDatabase, databaseUrl, dropDatabase, uniqueName, withClient } from "./server.js"

const quiet = Logger.minimumLogLevel(LogLevel.Warning)

/** The change-feed triggers (0003); the content-type check trigger (0002) stays in both databases. */
export const changeFeedTriggers = [
  ["files", "files_changes_insert"],
  ["files", "files_changes_update"],
  ["files", "files_changes_delete"],
  ["file_versions", "file_versions_changes_insert"]
] as const

/**
 * Two migrated databases on the server, identical except that the second has
 * no change-feed triggers; dropped afterwards.
 */
export const withStores = async <A>(
  serverUrl: string,
  prefix: string,
  body: (urls: { readonly withTriggers: string; readonly withoutTriggers: string }) => Promise<A>
): Promise<A> => {
  const names = [uniqueName(`${prefix}_trig`), uniqueName(`${prefix}_notrig`)] as const
  try {
    const [withTriggers, withoutTriggers] = await Promise.all(names.map(async (name) => {
      await createDatabase(serverUrl, name)
      const url = databaseUrl(serverUrl, name)
      const runtime = ManagedRuntime.make(Database.layer({ url: Redacted.make(url), maxConnections: 1 }).pipe(Layer.provide(quiet)))
      try {
        await runtime.runPromise(Migrations.run())
      } finally {
        await runtime.dispose()
      }
      return url
    })) as unknown as [string, string]
    await withClient(withoutTriggers, async (client) => {
      for (const [table, trigger] of changeFeedTriggers) await client.query(`DROP TRIGGER ${trigger} ON ${table}`)
    })
    return await body({ withTriggers, withoutTriggers })
  } finally {
    for (const name of names) await dropDatabase(serverUrl, name)
  }
}

/** A runtime with the documents service on a pool of `connections`. */
export const documentsRuntime = (url: string, connections: number) =>
  ManagedRuntime.make(
    Documents.layer.pipe(
      Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: connections })),
      Layer.provide(quiet)
    )
  )

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!
}

export const newVersion = (i: number) => ({ storageKey: `bench/${i}/${randomUUID()}`, byteSize: 1000 + i })

/**
 * What `put` sends for a new input: one statement, the key's lock, the upsert and the version insert
 * (and, with `$8` true, the change feed's wake-up; the bare baselines send false).
 * `moreCtes` (`, name AS (...)`) are added after the version insert (bench/triggerFloor.ts adds the change rows).
 */
export const putStatement = (moreCtes = "") =>
  `WITH key_lock AS (
     SELECT pg_advisory_xact_lock(${Documents.keyLockClass}, hashtext($2::uuid::text || '/' || 'input'::text || '/' || $4::text))
   ), document AS (
     INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
     SELECT $1::uuid, $2::uuid, 'input', $3, $4, NULL::uuid, NULL::uuid
     FROM key_lock
     ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()
     RETURNING *
   ), version AS (
     INSERT INTO file_versions (id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256)
     SELECT $5, document.id, next_version_no(document.id), $6, NULL, NULL, $7, NULL
     FROM document
     RETURNING *
   )${moreCtes}
   SELECT document.*, version.id AS version_id, version.version_no, version.storage_key,
          version.storage_version_id, version.content_type, version.byte_size, version.sha256,
          version.created_at AS version_created_at,
          CASE WHEN $8::boolean THEN pg_notify('docstore_document_changes', '1') END AS wake
   FROM document, version`

const putText = putStatement()

/** `put`'s statement for a new input, sent by bare pg. */
export const barePut = async (pool: pg.Pool, workspaceId: string, name: string, version: ReturnType<typeof newVersion>) => {
  await pool.query(putText, [randomUUID(), workspaceId, name, name.toLowerCase(), randomUUID(), version.storageKey, version.byteSize, false])
}

/** Runs `count` calls over `lanes` concurrent lanes; returns calls per second. */
export const timedLanes = async (count: number, lanes: number, call: (i: number) => Promise<unknown>) => {
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < count) await call(next++)
  }))
  return count / ((performance.now() - started) / 1000)
}

/** Throughput of the three sides of a write benchmark in one run. */
export interface Sides {
  readonly service: number
  readonly bare: number
  readonly bareWithoutTriggers: number
}

/** The per-run table of a write benchmark, with its median row: service / baseline and the trigger cost. */
export const sidesTable = <Run extends Sides>(
  headers: ReadonlyArray<string>,
  runs: ReadonlyArray<Run>,
  serviceRatio: (run: Run) => number,
  triggerRatio: (run: Run) => number
): Array<string> => {
  const row = (label: string, r: Sides, s: number, t: number) =>
    `| ${label} | ${r.service.toFixed(0)} | ${r.bare.toFixed(0)} | ${r.bareWithoutTriggers.toFixed(0)} | ${s.toFixed(2)} | ${t.toFixed(2)} |`
  return [
    `| run | ${headers.join(" | ")} |`,
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...runs.map((r, i) => row(String(i + 1), r, serviceRatio(r), triggerRatio(r))),
    row("**median**", {
      service: median(runs.map((r) => r.service)),
      bare: median(runs.map((r) => r.bare)),
      bareWithoutTriggers: median(runs.map((r) => r.bareWithoutTriggers))
    }, median(runs.map(serviceRatio)), median(runs.map(triggerRatio)))
  ]
}
