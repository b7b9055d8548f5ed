/**
 * 0004 document indexes: what the documents service reads by.
 *
 * - listing a workspace newest or oldest first pages by (created_at, id);
 * - deleting a document sets `source_file_id` of its outputs to NULL, which
 *   without an index scans the whole table for every delete.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE INDEX files_workspace_listing ON files (workspace_id, created_at, id)`
  yield* sql`CREATE INDEX files_source_file_id ON files (source_file_id) WHERE source_file_id IS NOT NULL`
})
