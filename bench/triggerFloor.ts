/**
 * `npx tsx bench/triggerFloor.ts [--writes N] [--versions N] [--rounds N]`
 *
 * The floor of the change-feed triggers' cost: what the change rows cost when
 * nothing has to find them. Three sides, bare `pg`, each into a migrated
 * database of its own:
 *
 * - `triggers`: the writes, with the change-feed triggers writing the log;
 * - `floor`: the same writes into a database without the triggers, plus the
 *   same change rows inserted into its `document_changes` by the client, in
 *   the same statement (single writes) or transaction (bulk): the rows and
 *   index entries the log costs, without a trigger call, transition table,
 *   lookup or sort;
 * - `without`: the writes alone, without the triggers and without the rows.
 *
 * Single writes: put's statement for a new input (bench/stores.ts), on 8
 * lanes. Bulk: bench/bulk.ts's two multi-row INSERTs of N versions of N/2 new
 * documents in one transaction. Figures: triggers / floor (what the triggers
 * could still gain) and floor / without (what the log itself costs).
 */
import { randomUUID } from "node:crypto"
import pg from "pg"
import { withClient, withServer } from "./server.js"
import { median, newVersion, putStatement, timedLanes, withStores } from "./stores.js"

const option = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`)
  return at < 0 ? fallback : Number(process.argv[at + 1])
}
const writes = option("writes", 3_000)
const versions = option("versions", 100_000)
const rounds = option("rounds", 5)
const lanes = 8

const sides = ["triggers", "floor", "without"] as const
type Side = typeof sides[number]

// put's statement (bench/stores.ts); with `withChanges`, the change rows the triggers would write.
const single = (withChanges: boolean) =>
  putStatement(withChanges
    ? `, changes AS (
     INSERT INTO document_changes (workspace_id, document_id, kind, op, version_no)
     SELECT workspace_id, id, kind, 'created', NULL::int FROM document
     UNION ALL SELECT document.workspace_id, version.file_id, document.kind, 'version_added', version.version_no
     FROM document, version
   )`
    : "")

const bulk = async (client: pg.Client, label: string, withChanges: boolean) => {
  const files = { id: [] as Array<string>, workspace: [] as Array<string>, name: [] as Array<string>, key: [] as Array<string> }
  const rows = { id: [] as Array<string>, file: [] as Array<string>, no: [] as Array<number>, key: [] as Array<string>, size: [] as Array<number> }
  const workspaces = Array.from({ length: 10 }, () => randomUUID())
  for (let d = 0; rows.id.length < versions; d++) {
    const id = randomUUID()
    const name = `${label}-${d}.csv`
    files.id.push(id), files.workspace.push(workspaces[d % 10]!), files.name.push(name), files.key.push(name)
    for (let n = 1; n <= 2 && rows.id.length < versions; n++) {
      rows.id.push(randomUUID()), rows.file.push(id), rows.no.push(n), rows.key.push(`${label}/${d}/${n}`), rows.size.push(d)
    }
  }
  const started = performance.now()
  await client.query("BEGIN")
  await client.query(
    `INSERT INTO files (id, workspace_id, kind, name, name_key)
     SELECT id, workspace_id, 'input', name, name_key
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS t(id, workspace_id, name, name_key)`,
    [files.id, files.workspace, files.name, files.key]
  )
  await client.query(
    `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::bigint[])`,
    [rows.id, rows.file, rows.no, rows.key, rows.size]
  )
  if (withChanges) {
    // The client knows each version's workspace: the rows come in document and version order, as the trigger's.
    const workspaceOf = new Map(files.id.map((id, i) => [id, files.workspace[i]!]))
    await client.query(
      `INSERT INTO document_changes (workspace_id, document_id, kind, op)
       SELECT workspace_id, id, 'input', 'created' FROM unnest($1::uuid[], $2::uuid[]) AS t(id, workspace_id)`,
      [files.id, files.workspace]
    )
    await client.query(
      `INSERT INTO document_changes (workspace_id, document_id, kind, op, version_no)
       SELECT workspace_id, file_id, 'input', 'version_added', version_no
       FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS t(workspace_id, file_id, version_no)`,
      [rows.file.map((id) => workspaceOf.get(id)!), rows.file, rows.no]
    )
  }
  await client.query("COMMIT")
  return versions / ((performance.now() - started) / 1000)
}

const log = (line: string) => process.stdout.write(`${line}\n`)

await withServer(log, (server) =>
  withStores(server.url, "bench_floor_trig", ({ withTriggers }) =>
    withStores(server.url, "bench_floor", async ({ withoutTriggers: floorUrl }) =>
      withStores(server.url, "bench_floor_none", async ({ withoutTriggers }) => {
        const urls: Record<Side, string> = { triggers: withTriggers, floor: floorUrl, without: withoutTriggers }
        const pools = Object.fromEntries(sides.map((side) => [side, new pg.Pool({ connectionString: urls[side], max: lanes })]))
        const clients = Object.fromEntries(sides.map((side) => [side, new pg.Client({ connectionString: urls[side] })]))
        try {
          await Promise.all(Object.values(clients).map((client) => client.connect()))
          const workspaceId = randomUUID()
          const put = (side: Side) => (i: number) => {
            const name = `${side}-${i}-${randomUUID()}.pdf`
            const version = newVersion(i)
            return pools[side]!.query(single(side === "floor"), [
              randomUUID(), workspaceId, name, name.toLowerCase(), randomUUID(), version.storageKey, version.byteSize, false
            ])
          }
          for (const side of sides) await timedLanes(1_000, lanes, put(side))
          const results = Object.fromEntries(sides.map((side) => [side, { single: [] as Array<number>, bulk: [] as Array<number> }]))
          for (let round = 0; round < rounds; round++) {
            for (const url of Object.values(urls)) await withClient(url, (client) => client.query("ANALYZE"))
            const rotated = [...sides.slice(round % 3), ...sides.slice(0, round % 3)]
            for (const side of rotated) results[side]!.single.push(await timedLanes(writes, lanes, put(side)))
            for (const side of rotated) results[side]!.bulk.push(await bulk(clients[side]!, `r${round}${side}`, side === "floor"))
            log(`round ${round + 1}: ${sides.map((s) => `${s} ${results[s]!.single.at(-1)!.toFixed(0)} writes/s, ${results[s]!.bulk.at(-1)!.toFixed(0)} versions/s`).join("; ")}`)
          }
          const ratio = (kind: "single" | "bulk", a: Side, b: Side) =>
            median(results[a]![kind].map((value, i) => value / results[b]![kind][i]!)).toFixed(2)
          log(`\n${writes} single writes on ${lanes} lanes and one import of ${versions} versions per side per round, ${rounds} rounds; medians:\n`)
          log("| writes | triggers | floor (client inserts the change rows) | without change rows | triggers / floor | floor / without | triggers / without |")
          log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
          for (const kind of ["single", "bulk"] as const) {
            log(`| ${kind}, ${kind === "single" ? "writes" : "versions"}/s | ${sides.map((s) => median(results[s]![kind]).toFixed(0)).join(" | ")} | ` +
              `${ratio(kind, "triggers", "floor")} | ${ratio(kind, "floor", "without")} | ${ratio(kind, "triggers", "without")} |`)
          }
        } finally {
          await Promise.all(Object.values(pools).map((pool) => pool.end()))
          await Promise.all(Object.values(clients).map((client) => client.end().catch(() => {})))
        }
      })
    )
  )
)
