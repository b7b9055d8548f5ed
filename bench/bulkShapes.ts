/**
 * `npx tsx bench/bulkShapes.ts [--versions N] [--rounds N] [--sides a,b] [--profile DIR]`
 *
 * Which bare load of an import is fastest, for the baseline of `putMany`
 * (issue 16): N versions of N/2 new documents (as bench/bulk.ts), written in
 * one transaction by bare `pg` in three statement shapes, into a database
 * without the change-feed triggers and into one with them, beside `putMany`
 * itself (into a third database, with the triggers):
 *
 * - `unnest`: two multi-row `INSERT ... SELECT FROM unnest($1::uuid[], ...)`
 *   (bench/bulk.ts's baseline);
 * - `copy`: `COPY files FROM STDIN` and `COPY file_versions FROM STDIN`
 *   straight into the tables;
 * - `copy via temp`: `COPY` into temporary tables, then one `INSERT ... SELECT`
 *   into each table.
 *
 * COPY's data goes through src/internal/pg/copyIn.ts (pg's own copy-in messages, as putMany sends it).
 * `--sides putMany,copy` keeps the loads whose names start with those words;
 * `--profile DIR` CPU-profiles each side's last round (through
 * `node:inspector`: set-up stays out) into `DIR/<side>.cpuprofile`, for
 * bench/profileSummary.ts. Each line also gives this process's CPU time.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as inspector from "node:inspector"
import * as path from "node:path"
import * as Documents from "../src/Documents.js"
import * as Stream from "effect/Stream"
import pg from "pg"
import { copyInPromise as copyIn } from "../src/internal/pg/copyIn.js"
import { withServer } from "./server.js"
import { documentsRuntime, median, withStores } from "./stores.js"

const option = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at < 0 ? fallback : process.argv[at + 1] ?? fallback
}
const versions = Number(option("versions", "100000"))
const rounds = Number(option("rounds", "3"))
const wanted = option("sides", "").split(",").filter((side) => side !== "")
const profileDir = process.argv.includes("--profile") ? option("profile", "/tmp/prof") : undefined

const session = new inspector.Session()
const post = (method: string, params?: object) =>
  new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (error, result) => error ? reject(error) : resolve(result)))
const workspaces = Array.from({ length: 10 }, () => randomUUID())

interface Rows {
  readonly requests: Array<Documents.PutRequest>
  readonly files: Array<readonly [string, string, string, string]>
  readonly versions: Array<readonly [string, string, number, string, number]>
}

const rowsOf = (label: string, count = versions): Rows => {
  const rows: Rows = { requests: [], files: [], versions: [] }
  for (let d = 0; rows.requests.length < count; d++) {
    const workspaceId = workspaces[d % workspaces.length]!
    const name = `${label}-${d}.csv`
    const id = randomUUID()
    rows.files.push([id, workspaceId, name, name.toLowerCase()])
    for (let n = 1; n <= 2 && rows.requests.length < count; n++) {
      const versionId = randomUUID()
      const storageKey = `bench/shapes/${label}/${d}/${n}`
      rows.requests.push({ kind: "input", workspaceId, name, version: { id: versionId, storageKey, byteSize: 1000 + d } })
      rows.versions.push([versionId, id, n, storageKey, 1000 + d])
    }
  }
  return rows
}

function* fileLines(rows: Rows) {
  for (const [id, workspace, name, key] of rows.files) yield `${id}\t${workspace}\tinput\t${name}\t${key}\n`
}
function* versionLines(rows: Rows) {
  for (const [id, file, no, key, size] of rows.versions) yield `${id}\t${file}\t${no}\t${key}\t${size}\n`
}

const fileColumns = "(id, workspace_id, kind, name, name_key)"
const versionColumns = "(id, file_id, version_no, storage_key, byte_size)"

const shapes: Record<string, (client: pg.Client, rows: Rows) => Promise<void>> = {
  unnest: async (client, rows) => {
    await client.query(
      `INSERT INTO files ${fileColumns} SELECT id, workspace_id, 'input', name, name_key
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS t(id, workspace_id, name, name_key)`,
      [0, 1, 2, 3].map((c) => rows.files.map((r) => r[c]))
    )
    await client.query(
      `INSERT INTO file_versions ${versionColumns} SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::bigint[])`,
      [0, 1, 2, 3, 4].map((c) => rows.versions.map((r) => r[c]))
    )
  },
  copy: async (client, rows) => {
    await copyIn(client, `COPY files ${fileColumns} FROM STDIN`, () => fileLines(rows))
    await copyIn(client, `COPY file_versions ${versionColumns} FROM STDIN`, () => versionLines(rows))
  },
  "copy via temp": async (client, rows) => {
    await client.query(`CREATE TEMP TABLE load_files (id uuid, workspace_id uuid, kind text, name text, name_key text) ON COMMIT DROP`)
    await client.query(
      `CREATE TEMP TABLE load_versions (id uuid, file_id uuid, version_no int, storage_key text, byte_size bigint) ON COMMIT DROP`
    )
    await copyIn(client, `COPY load_files FROM STDIN`, () => fileLines(rows))
    await copyIn(client, `COPY load_versions FROM STDIN`, () => versionLines(rows))
    await client.query(`INSERT INTO files ${fileColumns} SELECT * FROM load_files`)
    await client.query(`INSERT INTO file_versions ${versionColumns} SELECT * FROM load_versions`)
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`)

await withServer(log, (server) =>
  withStores(server.url, "bench_shapes_service", ({ withTriggers: serviceStore }) =>
    withStores(server.url, "bench_shapes", async ({ withTriggers, withoutTriggers }) => {
      const runtime = documentsRuntime(serviceStore, 2)
      const clients = { with: new pg.Client({ connectionString: withTriggers }), without: new pg.Client({ connectionString: withoutTriggers }) }
      try {
        await Promise.all(Object.values(clients).map((client) => client.connect()))
        const documents = await runtime.runPromise(Documents.Documents)
        const sides: Record<string, (rows: Rows) => Promise<unknown>> = {
          putMany: (rows) => runtime.runPromise(documents.putMany(rows.requests)),
          putStream: (rows) => runtime.runPromise(documents.putStream(Stream.fromIterable(rows.requests)))
        }
        for (const [shape, load] of Object.entries(shapes)) {
          for (const [triggers, client] of Object.entries(clients)) {
            sides[`${shape}, ${triggers} triggers`] = async (rows) => {
              await client.query("BEGIN")
              await load(client, rows)
              await client.query("COMMIT")
            }
          }
        }
        const names = Object.keys(sides).filter((name) => wanted.length === 0 || wanted.some((w) => name.startsWith(w)))
        for (const name of names) await sides[name]!(rowsOf(`warm-${name.replaceAll(/\W/g, "")}`, 5_000))
        const rates = Object.fromEntries(names.map((name) => [name, [] as Array<number>]))
        const cpu = Object.fromEntries(names.map((name) => [name, [] as Array<number>]))
        if (profileDir !== undefined) {
          session.connect()
          await post("Profiler.enable")
          await post("Profiler.setSamplingInterval", { interval: 500 })
          await fs.mkdir(profileDir, { recursive: true })
        }
        for (let round = 0; round < rounds; round++) {
          const rotated = [...names.slice(round % names.length), ...names.slice(0, round % names.length)]
          for (const name of rotated) {
            const rows = rowsOf(`r${round}-${name.replaceAll(/\W/g, "")}`)
            const profiled = profileDir !== undefined && round === rounds - 1
            if (profiled) await post("Profiler.start")
            const before = process.cpuUsage()
            const started = performance.now()
            await sides[name]!(rows)
            rates[name]!.push(versions / ((performance.now() - started) / 1000))
            const used = process.cpuUsage(before)
            cpu[name]!.push((used.user + used.system) / 1000)
            if (profiled) {
              const { profile } = await post("Profiler.stop")
              await fs.writeFile(path.join(profileDir!, `${name.replaceAll(/\W/g, "")}.cpuprofile`), JSON.stringify(profile))
            }
          }
          log(`round ${round + 1}: ${names.map((name) => `${name} ${rates[name]!.at(-1)!.toFixed(0)}/s (${cpu[name]!.at(-1)!.toFixed(0)} ms CPU)`).join(", ")}`)
        }
        log(`\n${versions} versions of ${Math.ceil(versions / 2)} new documents per load, ${rounds} rounds; medians:\n`)
        log("| load | versions/s | / unnest without triggers | this process's CPU, ms |")
        log("| --- | ---: | ---: | ---: |")
        const base = median(rates["unnest, without triggers"] ?? [NaN])
        for (const name of names) {
          log(`| ${name} | ${median(rates[name]!).toFixed(0)} | ${(median(rates[name]!) / base).toFixed(2)} | ${median(cpu[name]!).toFixed(0)} |`)
        }
      } finally {
        if (profileDir !== undefined) session.disconnect()
        await Promise.all(Object.values(clients).map((client) => client.end().catch(() => {})))
        await runtime.dispose()
      }
    })
  )
)
