/**
 * 0009 change trigger memory: the statement-level change trigger sorts and
 * joins a bulk write in memory (docs/migrations.md step 0009).
 *
 * `record_document_change()` logs the versions a statement inserted by joining
 * its transition table to `files` (for the workspace and kind) and sorting by
 * document and version number, so that one document's versions enter the log
 * in version order. With the server's default `work_mem` (4 MB) the largest
 * import spilled that sort to disk and split the hash of `files` into batches
 * once `files` was large (the figures: docs/migrations.md). The function now runs with `work_mem = 32MB`, enough for the
 * 100,000 versions `Documents.putMany` takes at most; a larger statement of
 * raw SQL still works, and spills as before.
 *
 * The setting is local to the function's calls (PostgreSQL restores the
 * caller's value on return), so nothing else runs with more memory. The log's
 * rows, their order and the function's rights (SECURITY DEFINER with a fixed
 * search_path, 0006) are unchanged: `ALTER FUNCTION … SET` keeps them.
 * Instantaneous: no table is read or locked beyond the function's catalog row.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER FUNCTION record_document_change() SET work_mem = '32MB'`
})
