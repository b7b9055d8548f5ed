/**
 * 0003 document changes: the one consolidated change feed
 * (docs/change-feed.md, docs/migrations.md step 0003).
 *
 * Change feed v1 goes: its triggers, notify_document_event() and the
 * document_events history. Its replacement is a flat log written by
 * statement-level triggers, read in (tx_id, id) order, with no NOTIFY in any
 * trigger (a NOTIFY in a writing transaction serialises commits cluster-wide).
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

const dropChangeFeedV1 = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TRIGGER IF EXISTS files_document_events ON files`
  yield* sql`DROP TRIGGER IF EXISTS file_versions_document_events ON file_versions`
  yield* sql`DROP FUNCTION IF EXISTS notify_document_event()`
  yield* sql`DROP TABLE IF EXISTS document_events`
})

const createChangeLog = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // No foreign key to files: a deletion keeps its changes.
  yield* sql`
    CREATE TABLE document_changes (
      id           bigserial PRIMARY KEY,
      tx_id        xid8 NOT NULL DEFAULT pg_current_xact_id(),
      workspace_id uuid NOT NULL,
      document_id  uuid NOT NULL,
      kind         text NOT NULL,
      op           text NOT NULL CHECK (op IN ('created', 'updated', 'deleted', 'version_added')),
      version_no   integer CHECK ((op = 'version_added') = (version_no IS NOT NULL)),
      changed_at   timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX document_changes_feed_order ON document_changes (tx_id, id)`
  yield* sql`CREATE INDEX document_changes_workspace_feed_order ON document_changes (workspace_id, tx_id, id)`
  // One row: the feed's epoch (cursors from another epoch are expired) and
  // the retention horizon (cursors below it are expired).
  yield* sql`
    CREATE TABLE document_feed (
      singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      epoch         uuid NOT NULL DEFAULT gen_random_uuid(),
      created_at    timestamptz NOT NULL DEFAULT now(),
      horizon_tx_id xid8,
      horizon_id    bigint,
      pruned_at     timestamptz,
      CHECK ((horizon_tx_id IS NULL) = (horizon_id IS NULL))
    )`
  yield* sql`INSERT INTO document_feed DEFAULT VALUES`
})

const createTriggers = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Statement-level with transition tables: a bulk write costs one INSERT here.
  // An UPDATE is a change only when a column other than updated_at changed.
  yield* sql`
    CREATE FUNCTION record_document_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_TABLE_NAME = 'file_versions' THEN
        INSERT INTO document_changes (workspace_id, document_id, kind, op, version_no)
        SELECT f.workspace_id, v.file_id, f.kind, 'version_added', v.version_no
        FROM new_rows v JOIN files f ON f.id = v.file_id
        ORDER BY v.file_id, v.version_no;
      ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO document_changes (workspace_id, document_id, kind, op)
        SELECT workspace_id, id, kind, 'created' FROM new_rows;
      ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO document_changes (workspace_id, document_id, kind, op)
        SELECT n.workspace_id, n.id, n.kind, 'updated'
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.workspace_id, n.kind, n.name, n.name_key, n.source_file_id, n.run_id)
          IS DISTINCT FROM (o.workspace_id, o.kind, o.name, o.name_key, o.source_file_id, o.run_id);
      ELSE
        INSERT INTO document_changes (workspace_id, document_id, kind, op)
        SELECT workspace_id, id, kind, 'deleted' FROM old_rows;
      END IF;
      RETURN NULL;
    END
    $$`
  yield* sql`
    CREATE TRIGGER files_changes_insert AFTER INSERT ON files
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_document_change()`
  yield* sql`
    CREATE TRIGGER files_changes_update AFTER UPDATE ON files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_document_change()`
  yield* sql`
    CREATE TRIGGER files_changes_delete AFTER DELETE ON files
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_document_change()`
  yield* sql`
    CREATE TRIGGER file_versions_changes_insert AFTER INSERT ON file_versions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_document_change()`
})

// A consumer reading from the beginning of the new feed sees every document.
const seedCreatedChanges = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const seeded = yield* sql`
    INSERT INTO document_changes (workspace_id, document_id, kind, op)
    SELECT workspace_id, id, kind, 'created' FROM files ORDER BY created_at, id`.raw as Effect.Effect<
      { rowCount: number }
    >
  yield* Effect.logInfo(`document_changes: seeded ${seeded.rowCount} created changes, one per document`)
})

export default Effect.gen(function*() {
  yield* dropChangeFeedV1
  yield* createChangeLog
  yield* createTriggers
  yield* seedCreatedChanges
})
