/**
 * How the cost of the everyday operations grows with the data: each measured
 * in a small and a large database, the same number of times, and reported as
 * the ratio large / small of the median latency (1 means it does not grow).
 *
 * - documents in the store (10,000 vs 1,000,000 by default, 100 workspaces):
 *   `put` of a new document, `put` of a new version of an existing one,
 *   `get`, and the first `list` page of a workspace;
 * - versions of one document (1 vs 10,000): `put` of its next version and
 *   `latestVersion`;
 * - an import (`putMany` of new documents, two versions each, 10,000
 *   versions by default; deleted again after each so that the sizes stay put)
 *   into the small and the large store.
 *
 * The change log (keyset benchmark) and live subscribers (feed benchmark)
 * are measured by their own benchmarks.
 */
import { randomUUID } from "node:crypto"
import * as Documents from "../src/Documents.js"
import { createDatabase, databaseUrl, dropDatabase, uniqueName, withClient } from "./server.js"
import { documentsRuntime, median } from "./stores.js"
import * as Migrations from "../src/Migrations.js"

export interface ScalingOptions {
  readonly serverUrl: string
  readonly small: number
  readonly large: number
  readonly versionsLarge: number
  readonly samples: number
  /** Versions per import (two per new document). */
  readonly importVersions: number
  readonly runs: number
  readonly log: (line: string) => void
}

const operations = [
  "put a new document",
  "put a new version",
  "get",
  "list a page",
  "put the next version",
  "latestVersion",
  "import"
] as const
export type Operation = (typeof operations)[number]

export interface ScalingResult {
  readonly sizes: readonly [number, number]
  readonly versions: readonly [number, number]
  readonly importVersions: number
  readonly fillSeconds: number
  /** Per run: median ms per operation, small then large. */
  readonly runs: ReadonlyArray<Record<Operation, readonly [number, number]>>
}

const workspaceCount = 100

/** `documents` documents (one version each) in 100 workspaces, and one document with `versions` versions. */
const fill = async (url: string, documents: number, versions: number) => {
  const workspaces = Array.from({ length: workspaceCount }, () => randomUUID())
  const heavy = randomUUID()
  await withClient(url, async (client) => {
    // Filled as a restore would: the change log is not what this benchmark measures. Ids are md5s of a
    // per-fill seed: gen_random_uuid() cost about 6 µs a call here.
    await client.query("ALTER TABLE files DISABLE TRIGGER USER")
    await client.query("ALTER TABLE file_versions DISABLE TRIGGER USER")
    await client.query(
      `INSERT INTO files (id, workspace_id, kind, name, name_key, created_at, updated_at)
       SELECT md5($3 || g)::uuid, ($1::uuid[])[1 + g % ${workspaceCount}], 'input', 'doc-' || g || '.pdf', 'doc-' || g || '.pdf',
              now() - make_interval(secs => $2::int - g), now()
       FROM generate_series(1, $2::int) g`,
      [workspaces, documents, randomUUID()]
    )
    await client.query(
      `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size)
       SELECT md5(id::text)::uuid, id, 1, 'blobs/' || id, 1000 FROM files`
    )
    await client.query(
      `INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', 'heavy.pdf', 'heavy.pdf')`,
      [heavy, workspaces[0]]
    )
    await client.query(
      `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size)
       SELECT md5($1::text || g)::uuid, $1::uuid, g, 'blobs/heavy/' || g, 1000 FROM generate_series(1, $2::int) g`,
      [heavy, versions]
    )
    await client.query("ALTER TABLE files ENABLE TRIGGER USER")
    await client.query("ALTER TABLE file_versions ENABLE TRIGGER USER")
    await client.query("VACUUM ANALYZE files")
    await client.query("VACUUM ANALYZE file_versions")
  })
  const { rows } = await withClient(url, (client) =>
    client.query<{ id: string; workspace_id: string }>(
      `SELECT id, workspace_id FROM files WHERE name <> 'heavy.pdf' ORDER BY random() LIMIT 200`
    ))
  return { workspaces, heavy, sample: rows.map((row) => ({ documentId: row.id, workspaceId: row.workspace_id })) }
}

interface Store {
  readonly measure: (samples: number, imports: number) => Promise<Record<Operation, number>>
  readonly close: () => Promise<void>
}

const importsPerRun = 3

const openStore = async (
  serverUrl: string,
  documents: number,
  versions: number,
  importVersions: number,
  log: (line: string) => void
): Promise<Store & { fillSeconds: number }> => {
  const name = uniqueName("bench_scaling")
  await createDatabase(serverUrl, name)
  const url = databaseUrl(serverUrl, name)
  const runtime = documentsRuntime(url, 2)
  await runtime.runPromise(Migrations.run())
  const started = Date.now()
  const { heavy, sample, workspaces } = await fill(url, documents, versions)
  const fillSeconds = (Date.now() - started) / 1000
  log(`scaling: ${documents.toLocaleString("en-US")} documents and one of ${versions.toLocaleString("en-US")} versions written in ${fillSeconds.toFixed(1)} s`)
  const store = await runtime.runPromise(Documents.Documents)
  const run = <A>(effect: Parameters<typeof runtime.runPromise>[0]) => runtime.runPromise(effect) as Promise<A>
  const timed = async (call: () => Promise<unknown>) => {
    const t = performance.now()
    await call()
    return performance.now() - t
  }
  const version = () => ({ storageKey: `blobs/${randomUUID()}`, byteSize: 1000 })
  const measure = async (samples: number, imports: number) => {
    const times: Record<Operation, Array<number>> = Object.fromEntries(operations.map((o) => [o, []])) as never
    for (let i = 0; i < samples; i++) {
      const workspaceId = workspaces[i % workspaces.length]!
      const existing = sample[i % sample.length]!
      times["put a new document"].push(await timed(() =>
        run(store.put({ kind: "input", workspaceId, name: `new-${randomUUID()}.pdf`, version: version() }))))
      times["put a new version"].push(await timed(() => run(store.get(existing)).then((document) =>
        run(store.put({ kind: "input", workspaceId: existing.workspaceId, name: (document as { name: string }).name, version: version() })))))
      times.get.push(await timed(() => run(store.get(existing))))
      times["list a page"].push(await timed(() => run(store.list({ workspaceId, limit: 100 }))))
      times["put the next version"].push(await timed(() =>
        run(store.put({ kind: "input", workspaceId: workspaces[0]!, name: "heavy.pdf", version: version() }))))
      times.latestVersion.push(await timed(() => run(store.latestVersion({ workspaceId: workspaces[0]!, documentId: heavy }))))
    }
    for (let i = 0; i < imports; i++) {
      const label = randomUUID()
      const requests = Array.from({ length: importVersions }, (_, v): Documents.PutRequest => {
        const document = Math.floor(v / 2)
        return { kind: "input", workspaceId: workspaces[document % workspaces.length]!, name: `import-${label}-${document}.pdf`, version: version() }
      })
      const started = performance.now()
      const imported = await run<ReadonlyArray<Documents.Imported>>(store.putMany(requests))
      times.import.push(performance.now() - started)
      await withClient(url, (client) =>
        client.query(`DELETE FROM files WHERE id = ANY($1::uuid[])`, [[...new Set(imported.map((i) => i.documentId))]]))
    }
    return Object.fromEntries(operations.map((o) => [o, median(times[o])])) as Record<Operation, number>
  }
  return {
    fillSeconds,
    measure,
    close: async () => {
      await runtime.dispose()
      await dropDatabase(serverUrl, name)
    }
  }
}

export const runScalingBench = async (options: ScalingOptions): Promise<ScalingResult> => {
  const small = await openStore(options.serverUrl, options.small, 1, options.importVersions, options.log)
  try {
    const large = await openStore(options.serverUrl, options.large, options.versionsLarge, options.importVersions, options.log)
    try {
      await small.measure(5, 1)
      await large.measure(5, 1)
      const runs: Array<Record<Operation, readonly [number, number]>> = []
      for (let run = 0; run < options.runs; run++) {
        // Alternate which goes first.
        const [a, b] = run % 2 === 0 ? [small, large] : [large, small]
        const first = await a.measure(options.samples, importsPerRun)
        const second = await b.measure(options.samples, importsPerRun)
        const [s, l] = run % 2 === 0 ? [first, second] : [second, first]
        runs.push(Object.fromEntries(operations.map((o) => [o, [s[o], l[o]] as const])) as never)
        options.log(`scaling run ${run + 1}: ` + operations.map((o) => `${o} ${s[o].toFixed(2)} → ${l[o].toFixed(2)} ms`).join(", "))
      }
      return {
        sizes: [options.small, options.large],
        versions: [1, options.versionsLarge],
        importVersions: options.importVersions,
        fillSeconds: large.fillSeconds,
        runs
      }
    } finally {
      await large.close()
    }
  } finally {
    await small.close()
  }
}

export const growth = (result: ScalingResult, operation: Operation) =>
  median(result.runs.map((r) => r[operation][1] / r[operation][0]))

export const formatScaling = (result: ScalingResult) => {
  const n = (x: number) => x.toLocaleString("en-US")
  const line = (operation: Operation, what: string) => {
    const small = median(result.runs.map((r) => r[operation][0]))
    const large = median(result.runs.map((r) => r[operation][1]))
    return `| ${operation} | ${what} | ${small.toFixed(2)} | ${large.toFixed(2)} | ${growth(result, operation).toFixed(2)} |`
  }
  const docs = `${n(result.sizes[0])} → ${n(result.sizes[1])} documents`
  const versions = `${n(result.versions[0])} → ${n(result.versions[1])} versions of the document`
  return [
    `Medians of the per-run median latency (one caller, sequential calls, ms; ${importsPerRun} imports per run, the other ` +
      `operations once per sample); the large database was filled in ${result.fillSeconds.toFixed(0)} s. ${workspaceCount} workspaces, so a workspace holds a hundredth of the documents.`,
    "",
    "| operation | grows with | small, ms | large, ms | large / small |",
    "| --- | --- | ---: | ---: | ---: |",
    line("put a new document", docs),
    line("put a new version", `${docs} (a get, then the put)`),
    line("get", docs),
    line("list a page", `${docs} (100 newest of a workspace)`),
    line("put the next version", versions),
    line("latestVersion", versions),
    line("import", `${docs} (putMany of ${n(result.importVersions)} versions of new documents, two each)`)
  ].join("\n")
}
