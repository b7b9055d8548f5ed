/**
 * What a database looks like, as plain data that `toEqual` can compare:
 * its schema (tables, columns, constraints, indexes, triggers, functions,
 * sequences) and every row of every table.
 */
import type pg from "pg"

const rows = async <A>(client: pg.Client, text: string): Promise<Array<A>> => (await client.query(text)).rows

export const schemaSnapshot = async (client: pg.Client) => ({
  tables: await rows<{ table: string }>(
    client,
    `SELECT table_name AS table FROM information_schema.tables
     WHERE table_schema = 'public' ORDER BY 1`
  ),
  columns: await rows(
    client,
    `SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default
     FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`
  ),
  constraints: await rows(
    client,
    `SELECT conrelid::regclass::text AS table, conname, contype, pg_get_constraintdef(oid) AS definition
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`
  ),
  indexes: await rows(
    client,
    `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`
  ),
  triggers: await rows(
    client,
    `SELECT tgrelid::regclass::text AS table, tgname, tgenabled, pg_get_triggerdef(oid) AS definition
     FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2`
  ),
  functions: await rows(
    client,
    `SELECT proname, pg_get_functiondef(oid) AS definition
     FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1`
  ),
  sequences: await rows(
    client,
    `SELECT sequencename, data_type::text, last_value::text FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1`
  )
})

export type SchemaSnapshot = Awaited<ReturnType<typeof schemaSnapshot>>

/** Every row of every table in `public`, each table sorted by its JSON text. */
export const dataSnapshot = async (client: pg.Client): Promise<Record<string, Array<unknown>>> => {
  const tables = await rows<{ table: string }>(
    client,
    `SELECT table_name AS table FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`
  )
  const snapshot: Record<string, Array<unknown>> = {}
  for (const { table } of tables) {
    snapshot[table] = (await client.query(
      `SELECT to_jsonb(t) AS row FROM ${client.escapeIdentifier(table)} t ORDER BY to_jsonb(t)::text`
    )).rows.map((row) => row.row)
  }
  return snapshot
}

/** Columns of one table as `name: "type NULL|NOT NULL"`. */
export const columnsOf = async (client: pg.Client, table: string): Promise<Record<string, string>> => {
  const result = await client.query(
    `SELECT column_name, data_type, is_nullable FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name = $1`,
    [table]
  )
  return Object.fromEntries(
    result.rows.map((row) => [row.column_name, `${row.data_type} ${row.is_nullable === "YES" ? "NULL" : "NOT NULL"}`])
  )
}
