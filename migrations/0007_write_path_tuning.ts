/**
 * 0007 write path tuning: a write is one statement, and the change-feed
 * triggers cost less per write (docs/benchmarks.md, docs/migrations.md step 0007).
 *
 * - `next_version_no(file_id)`: the next version number of a document, read
 *   with a snapshot of its own. `Documents.put` upserts the document (which
 *   locks it) and inserts the version in one statement; a plain sub-select
 *   there would read with the statement's snapshot, taken before the lock was
 *   granted, and miss the version the previous lock holder just committed.
 *   A VOLATILE PL/pgSQL function takes a new snapshot for its query (READ
 *   COMMITTED), after the lock is held.
 * - An upsert (`INSERT … ON CONFLICT DO UPDATE`, how every `put` locks its
 *   document) fires the UPDATE statement triggers of `files` even when it
 *   inserts, so the statement-level `files_changes_update` ran a PL/pgSQL call
 *   and a query for every write, to find nothing: only `updated_at` moves. A
 *   row-level trigger whose WHEN compares the identity columns is decided by
 *   the executor without calling any function, and still records every real
 *   change of a document's identity.
 * - `(tx_id, id)`, the feed's reading order, becomes the primary key: the
 *   separate index on `id` alone served no query, and every change row paid
 *   for it.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

const updateTriggerPerRow = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TRIGGER files_changes_update ON files`
  // Owned by the migration role and run with its rights, as record_document_change() (0006).
  const [schema] = yield* sql<{ name: string }>`SELECT current_schema() AS name`
  yield* sql`
    CREATE FUNCTION record_document_update() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = ${sql(schema!.name)}, pg_temp AS $$
    BEGIN
      INSERT INTO document_changes (workspace_id, document_id, kind, op)
      VALUES (NEW.workspace_id, NEW.id, NEW.kind, 'updated');
      RETURN NULL;
    END
    $$`
  yield* sql`
    CREATE TRIGGER files_changes_update AFTER UPDATE ON files
    FOR EACH ROW
    WHEN ((NEW.workspace_id, NEW.kind, NEW.name, NEW.name_key, NEW.source_file_id, NEW.run_id)
      IS DISTINCT FROM (OLD.workspace_id, OLD.kind, OLD.name, OLD.name_key, OLD.source_file_id, OLD.run_id))
    EXECUTE FUNCTION record_document_update()`
})

const feedOrderPrimaryKey = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE document_changes DROP CONSTRAINT document_changes_pkey`
  yield* sql`DROP INDEX document_changes_feed_order`
  yield* sql`ALTER TABLE document_changes ADD CONSTRAINT document_changes_pkey PRIMARY KEY (tx_id, id)`
})

const nextVersionNo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE FUNCTION next_version_no(document_id uuid) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      RETURN (SELECT coalesce(max(version_no), 0) + 1 FROM file_versions WHERE file_id = document_id);
    END
    $$`
})

export default Effect.gen(function*() {
  yield* nextVersionNo
  yield* updateTriggerPerRow
  yield* feedOrderPrimaryKey
})
