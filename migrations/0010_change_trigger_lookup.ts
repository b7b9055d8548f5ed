/**
 * 0010 change trigger lookup: logging a statement's versions costs the same
 * whatever the size of `files` (docs/migrations.md step 0010).
 *
 * `record_document_change()` finds the workspace and kind of each inserted
 * version in `files`. Written as a join, the planner hashed all of `files` for
 * a large statement, so that an import's cost grew with every document stored
 * (the figures: docs/scaling.md). Each version now looks up its document by primary
 * key (`OFFSET 0` keeps the lateral subquery from being merged back into a
 * join), in document order, so the lookups walk the index in order and the
 * log needs no second sort.
 *
 * The changes logged and their order are unchanged: one document's versions
 * in version order. The branch for statement-level UPDATEs goes: 0007 moved
 * that trigger to `record_document_update()`.
 *
 * `CREATE OR REPLACE FUNCTION` resets the function's settings, so the ones it
 * had (`work_mem` from 0009, or the owner's own choice) are put back, and its
 * rights stay those of 0006: `SECURITY DEFINER` with a fixed search_path.
 * Instantaneous: no table is read or locked.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import pg from "pg"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [schema] = yield* sql<{ name: string }>`SELECT current_schema() AS name`
  const [before] = yield* sql<{ config: ReadonlyArray<string> | null }>`
    SELECT proconfig AS config FROM pg_proc WHERE oid = 'record_document_change()'::regprocedure`
  yield* sql`
    CREATE OR REPLACE FUNCTION record_document_change() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = ${sql(schema!.name)}, pg_temp AS $$
    BEGIN
      IF TG_TABLE_NAME = 'file_versions' THEN
        INSERT INTO document_changes (workspace_id, document_id, kind, op, version_no)
        SELECT f.workspace_id, v.file_id, f.kind, 'version_added', v.version_no
        FROM (SELECT file_id, version_no FROM new_rows ORDER BY file_id, version_no) v
        CROSS JOIN LATERAL (SELECT workspace_id, kind FROM files WHERE id = v.file_id OFFSET 0) f
        ORDER BY v.file_id, v.version_no;
      ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO document_changes (workspace_id, document_id, kind, op)
        SELECT workspace_id, id, kind, 'created' FROM new_rows;
      ELSE
        INSERT INTO document_changes (workspace_id, document_id, kind, op)
        SELECT workspace_id, id, kind, 'deleted' FROM old_rows;
      END IF;
      RETURN NULL;
    END
    $$`
  // Put back what CREATE OR REPLACE reset, but the search_path it has just set again.
  for (const setting of before?.config ?? []) {
    const at = setting.indexOf("=")
    const name = setting.slice(0, at)
    const value = pg.escapeLiteral(setting.slice(at + 1))
    if (name !== "search_path") yield* sql`ALTER FUNCTION record_document_change() SET ${sql(name)} = ${sql.literal(value)}`
  }
})
