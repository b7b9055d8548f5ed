/**
 * Running the migrations from your own Effect program instead of the CLI:
 * compose the database layer, run `Migrations.run`, then read `Migrations.status`.
 *
 *   tsx examples/migrate-programmatically.ts     (DATABASE_URL, or the embedded default)
 */
import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Database, Migrations } from "../src/index.js"

const program = Effect.gen(function*() {
  const applied = yield* Migrations.run({
    onApplied: ({ migration, millis }) => Console.log(`applied ${migration} in ${millis} ms`)
  })
  const { applied: all, pending } = yield* Migrations.status()
  yield* Console.log(`${applied.length} applied now; ${all.length} applied in total, ${pending.length} pending`)

  const sql = yield* SqlClient.SqlClient
  const tables = yield* sql<{ tableName: string }>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = current_schema() ORDER BY table_name`
  yield* Console.log(`tables: ${tables.map((table) => table.tableName).join(", ")}`)
})

program.pipe(Effect.provide(Database.layerConfig), NodeRuntime.runMain)
