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
  const [schema] = yield* sql<{ name: string }>`SELECT current_schema() AS name`
  // Versions have no workspace column: a version belongs to the workspace of its document. The EXISTS
  // reads with the statement's snapshot, which misses a document written by the same statement (a
  // data-modifying WITH that creates a document and its first version). For a version of this
  // transaction (created_at defaults to its start) that the EXISTS did not find, document_workspace()
  // looks again with a fresh snapshot (VOLATILE), as the caller, so still through the files policy.
  // The created_at guard keeps it from being called for every older row of other workspaces.
  yield* sql`
    CREATE FUNCTION document_workspace(document_id uuid) RETURNS uuid LANGUAGE sql VOLATILE AS $$
      SELECT workspace_id FROM ${sql(schema!.name)}.files WHERE id = document_id
    $$`
  yield* sql`
    CREATE POLICY file_versions_workspace ON file_versions
    USING (${workspace} IS NOT NULL AND (
      EXISTS (SELECT 1 FROM files f WHERE f.id = file_versions.file_id AND f.workspace_id = ${workspace})
      OR file_versions.created_at >= now() AND document_workspace(file_versions.file_id) = ${workspace}))`
  // Read-only for everyone but the owner: no INSERT, UPDATE or DELETE policy, so those see no row.
  yield* sql`
    CREATE POLICY document_changes_workspace ON document_changes FOR SELECT
    USING (workspace_id = ${workspace})`
  // The change log is written by the trigger as the owner: the runtime role needs no privilege on
  // document_changes (or its sequence) beyond SELECT, so it cannot forge or remove changes.
  // A fixed search_path, so a caller's objects cannot stand in for ours.
  yield* sql`
    ALTER FUNCTION record_document_change() SECURITY DEFINER
    SET search_path = ${sql(schema!.name)}, pg_temp`
})
