/**
 * `npx tsx bench/upsertShapes.ts [--documents N] [--rounds N]`
 *
 * What putMany's upsert of the documents costs over a plain load (issue 16):
 * N new input documents (default 50,000, the documents of bench/bulk.ts's
 * 100,000 versions), in key order, written by bare `pg` in one transaction into
 * a database with the change-feed triggers, in five shapes that add putMany's
 * steps one at a time:
 *
 * - `COPY into files`: straight into the table (no upsert possible);
 * - `temp + INSERT`: `COPY` into a temporary table, then `INSERT ... SELECT`;
 * - `temp + INSERT, ORDER BY ord`: the insert in the rows' (key) order;
 * - `temp + INSERT ... ON CONFLICT`: the upsert, which lets an import add
 *   versions to documents that exist;
 * - `as putMany`: the upsert as putMany sends it (bench/bulk.ts's copy of
 *   src/internal/documents/bulkLoad.ts's), returning the documents that existed.
 *
 * Each round runs every shape once on fresh documents; the table gives each
 * shape's milliseconds per round and the median.
 */
import { randomUUID } from "node:crypto"
import pg from "pg"
import { copyInPromise as copyIn } from "../src/internal/pg/copyIn.js"
import { putManyStatements } from "./bulk.js"
import { withServer } from "./server.js"
import { median, withStores } from "./stores.js"

const option = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at < 0 ? fallback : process.argv[at + 1] ?? fallback
}
const documents = Number(option("documents", "50000"))
const rounds = Number(option("rounds", "5"))

type Row = readonly [id: string, workspaceId: string, name: string, nameKey: string]
const workspaces = Array.from({ length: 10 }, () => randomUUID())
const rowsOf = (label: string): Array<Row> =>
  Array.from({ length: documents }, (_, d): Row => {
    const name = `${label}-${d}.csv`
    return [randomUUID(), workspaces[d % workspaces.length]!, name, name.toLowerCase()]
  }).sort((a, b) => (a[1] + a[3] < b[1] + b[3] ? -1 : 1))

const columns = "id, workspace_id, kind, name, name_key, source_file_id, run_id"
const lines = (rows: ReadonlyArray<Row>, withOrd: boolean) =>
  function*() {
    for (const [i, [id, workspaceId, name, nameKey]] of rows.entries()) {
      yield `${withOrd ? `${i}\t` : ""}${id}\t${workspaceId}\tinput\t${name}\t${nameKey}\t\\N\t\\N\n`
    }
  }
const viaTemp = (tail: string) => async (client: pg.Client, rows: ReadonlyArray<Row>) => {
  await client.query(putManyStatements.temporaryTable)
  await copyIn(client, "COPY docstore_put_files FROM STDIN", lines(rows, true))
  await client.query(tail)
}
const insert = `INSERT INTO files (${columns}) SELECT ${columns} FROM docstore_put_files`
const upsert = `${insert} ORDER BY ord ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()`

const shapes: Record<string, (client: pg.Client, rows: ReadonlyArray<Row>) => Promise<unknown>> = {
  "COPY into files": (client, rows) => copyIn(client, `COPY files (${columns}) FROM STDIN`, lines(rows, false)),
  "temp + INSERT": viaTemp(insert),
  "temp + INSERT, ORDER BY ord": viaTemp(`${insert} ORDER BY ord`),
  "temp + INSERT ... ON CONFLICT": viaTemp(upsert),
  "as putMany": viaTemp(putManyStatements.upsert)
}

const log = (line: string) => process.stdout.write(`${line}\n`)

await withServer(log, (server) =>
  withStores(server.url, "bench_upsert_shapes", async ({ withTriggers }) => {
    const client = new pg.Client({ connectionString: withTriggers })
    await client.connect()
    try {
      const times = Object.fromEntries(Object.keys(shapes).map((name) => [name, [] as Array<number>]))
      for (let round = 0; round < rounds; round++) {
        for (const [name, shape] of Object.entries(shapes)) {
          const rows = rowsOf(`r${round}-${name.replaceAll(/\W/g, "")}`)
          await client.query("BEGIN")
          const started = performance.now()
          await shape(client, rows)
          await client.query("COMMIT")
          times[name]!.push(performance.now() - started)
        }
      }
      log(`\n${documents} new documents per shape, ${rounds} rounds, with the change-feed triggers:\n`)
      log("| shape | ms per round | median ms |")
      log("| --- | --- | ---: |")
      for (const [name, ms] of Object.entries(times)) {
        log(`| ${name} | ${ms.map((t) => t.toFixed(0)).join(", ")} | ${median(ms).toFixed(0)} |`)
      }
    } finally {
      await client.end()
    }
  })
)
