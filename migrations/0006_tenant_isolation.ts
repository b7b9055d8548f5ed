/**
 * 0006 tenant isolation: row-level security on the tables that hold a
 * workspace's data (docs/schema.md, "Tenant isolation").
 *
 * The policies bind every role except the tables' owner (and superusers):
 * RLS is ENABLEd, not FORCEd, so the owner that runs the migrations, and the
 * library connected as the owner (the default mode), work exactly as before.
 * A runtime role sees and writes only the rows of the workspace named by the
 * transaction-local setting `docstore.workspace_id`; without it, nothing.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // An unset setting reads as NULL, and as '' after a transaction that set it locally ended:
  // both match no row. The sub-select is evaluated once per statement, not once per row.
  const workspace = sql.literal(`(SELECT nullif(current_setting('docstore.workspace_id', true), '')::uuid)`)
  for (const table of ["files", "file_versions", "document_changes"]) {
    yield* sql`ALTER TABLE ${sql(table)} ENABLE ROW LEVEL SECURITY`
  }
  yield* sql`
    CREATE POLICY files_workspace ON files
    USING (workspace_id = ${workspace})`
  // Versions have no workspace column: a version belongs to the workspace of its document.
  yield* sql`
    CREATE POLICY file_versions_workspace ON file_versions
    USING (EXISTS (SELECT 1 FROM files f WHERE f.id = file_versions.file_id AND f.workspace_id = ${workspace}))`
  // Read-only for everyone but the owner: no INSERT, UPDATE or DELETE policy, so those see no row.
  yield* sql`
    CREATE POLICY document_changes_workspace ON document_changes FOR SELECT
    USING (workspace_id = ${workspace})`
  // The change log is written by the trigger as the owner: the runtime role needs no privilege on
  // document_changes (or its sequence) beyond SELECT, so it cannot forge or remove changes.
  // A fixed search_path, so a caller's objects cannot stand in for ours.
  const [schema] = yield* sql<{ name: string }>`SELECT current_schema() AS name`
  yield* sql`
    ALTER FUNCTION record_document_change() SECURITY DEFINER
    SET search_path = ${sql(schema!.name)}, pg_temp`
})
