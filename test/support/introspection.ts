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

/**
 * The schema of `public` as SQL text, in a stable order: what
 * migrations/schema.sql holds for a freshly migrated database. Function
 * bodies, policies and per-function settings included; row counts excluded.
 */
export const schemaSql = async (client: pg.Client): Promise<string> => {
  const out: Array<string> = []
  const tables = await rows<{ table: string; rls: boolean; forced: boolean }>(
    client,
    `SELECT relname AS table, relrowsecurity AS rls, relforcerowsecurity AS forced FROM pg_class
     WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1`
  )
  for (const { forced, rls, table } of tables) {
    const columns = await rows<{ name: string; type: string; notNull: boolean; default: string | null }>(
      client,
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS "notNull",
              pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE attrelid = 'public.${table}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`
    )
    const body = columns.map((c) =>
      `  ${c.name} ${c.type}${c.default === null ? "" : ` DEFAULT ${c.default}`}${c.notNull ? " NOT NULL" : ""}`
    )
    out.push(`CREATE TABLE ${table} (\n${body.join(",\n")}\n);`)
    if (rls) out.push(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`)
    if (forced) out.push(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;`)
  }
  const statements = async (text: string) => (await rows<{ sql: string }>(client, text)).map((row) => row.sql)
  out.push(
    ...await statements(
      `SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s;', conrelid::regclass, conname, pg_get_constraintdef(oid)) AS sql
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY conrelid::regclass::text, conname`
    ),
    ...await statements(
      `SELECT indexdef || ';' AS sql FROM pg_indexes i
       WHERE schemaname = 'public' AND NOT EXISTS (
         SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)
       ORDER BY tablename, indexname`
    ),
    ...await statements(
      `SELECT rtrim(pg_get_functiondef(oid)) || ';' AS sql FROM pg_proc
       WHERE pronamespace = 'public'::regnamespace ORDER BY proname, oid::regprocedure::text`
    ),
    ...await statements(
      `SELECT pg_get_triggerdef(oid) || ';' || CASE tgenabled WHEN 'D' THEN ' -- disabled' ELSE '' END AS sql
       FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text NOT LIKE 'pg_%'
       ORDER BY tgrelid::regclass::text, tgname`
    ),
    ...await statements(
      `SELECT format('CREATE POLICY %I ON %I AS %s FOR %s TO %s%s%s;', policyname, tablename, permissive, cmd,
                     array_to_string(roles, ', '),
                     CASE WHEN qual IS NULL THEN '' ELSE ' USING (' || qual || ')' END,
                     CASE WHEN with_check IS NULL THEN '' ELSE ' WITH CHECK (' || with_check || ')' END) AS sql
       FROM pg_policies WHERE schemaname = 'public' ORDER BY tablename, policyname`
    )
  )
  return out.join("\n\n") + "\n"
}
