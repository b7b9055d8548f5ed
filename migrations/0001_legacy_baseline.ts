/**
 * 0001 legacy baseline: the schema that Alembic deployments run today.
 *
 * - On an empty database: create it (without `alembic_version`), so a fresh
 *   install walks the same path as an upgrade.
 * - On an Alembic deployment: check that every legacy table and column is
 *   there and change nothing; the migrator records the step as applied.
 * - On anything else with a `files` table (or half the legacy tables): stop.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * The database holds tables this project did not create and cannot adopt. The
 * migrator reports it as `MigrationFailed` for this step, with its message.
 */
class UnrecognisedSchema extends Schema.TaggedError<UnrecognisedSchema>()(
  "UnrecognisedSchema",
  { message: Schema.String }
) {}

/** Legacy tables and their columns, as `information_schema` names their types. */
export const legacyColumns: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  files: {
    id: "uuid",
    workspace_id: "uuid",
    kind: "text",
    doc_no: "integer",
    name: "text",
    name_key: "text",
    parent_file_id: "uuid",
    run_id: "uuid",
    version: "integer",
    expires_at: "timestamp with time zone",
    created_at: "timestamp with time zone",
    updated_at: "timestamp with time zone"
  },
  file_versions: {
    id: "uuid",
    file_id: "uuid",
    version_no: "integer",
    storage_key: "text",
    blob_version_id: "text",
    content_type: "text",
    byte_size: "bigint",
    sha256: "text",
    created_at: "timestamp with time zone"
  },
  idempotency_keys: {
    workspace_id: "uuid",
    key: "text",
    request_hash: "text",
    response: "jsonb",
    created_at: "timestamp with time zone"
  },
  document_events: {
    id: "bigint",
    workspace_id: "uuid",
    file_id: "uuid",
    event_type: "text",
    payload: "jsonb",
    created_at: "timestamp with time zone"
  }
}

const createLegacySchema = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE files (
      id             uuid PRIMARY KEY,
      workspace_id   uuid NOT NULL,
      kind           text NOT NULL CHECK (kind IN ('document', 'output')),
      doc_no         integer NOT NULL,
      name           text NOT NULL,
      name_key       text NOT NULL,
      parent_file_id uuid REFERENCES files (id) ON DELETE SET NULL,
      run_id         uuid,
      version        integer NOT NULL DEFAULT 1,
      expires_at     timestamptz,
      created_at     timestamptz NOT NULL DEFAULT now(),
      updated_at     timestamptz NOT NULL DEFAULT now(),
      UNIQUE (workspace_id, doc_no),
      UNIQUE (workspace_id, kind, name_key)
    )`
  yield* sql`
    CREATE TABLE file_versions (
      id              uuid PRIMARY KEY,
      file_id         uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
      version_no      integer NOT NULL,
      storage_key     text NOT NULL,
      blob_version_id text NOT NULL,
      content_type    text,
      byte_size       bigint NOT NULL,
      sha256          text,
      created_at      timestamptz NOT NULL DEFAULT now(),
      UNIQUE (file_id, version_no)
    )`
  yield* sql`
    CREATE TABLE idempotency_keys (
      workspace_id uuid NOT NULL,
      key          text NOT NULL,
      request_hash text NOT NULL,
      response     jsonb,
      created_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (workspace_id, key)
    )`
  yield* sql`
    CREATE TABLE document_events (
      id           bigserial PRIMARY KEY,
      workspace_id uuid NOT NULL,
      file_id      uuid NOT NULL,
      event_type   text NOT NULL,
      payload      jsonb NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`
    CREATE FUNCTION notify_document_event() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      event_workspace uuid;
      event_file uuid;
      event text;
      body jsonb;
    BEGIN
      IF TG_TABLE_NAME = 'files' THEN
        IF TG_OP = 'DELETE' THEN
          body := to_jsonb(OLD); event_workspace := OLD.workspace_id; event_file := OLD.id; event := 'deleted';
        ELSE
          body := to_jsonb(NEW); event_workspace := NEW.workspace_id; event_file := NEW.id;
          event := CASE TG_OP WHEN 'INSERT' THEN 'created' ELSE 'updated' END;
        END IF;
      ELSE
        body := to_jsonb(NEW); event_file := NEW.file_id; event := 'version_added';
        SELECT workspace_id INTO event_workspace FROM files WHERE id = NEW.file_id;
      END IF;
      INSERT INTO document_events (workspace_id, file_id, event_type, payload)
      VALUES (event_workspace, event_file, event, body);
      PERFORM pg_notify('document_events', body::text);
      RETURN NULL;
    END
    $$`
  yield* sql`
    CREATE TRIGGER files_document_events
    AFTER INSERT OR UPDATE OR DELETE ON files
    FOR EACH ROW EXECUTE FUNCTION notify_document_event()`
  yield* sql`
    CREATE TRIGGER file_versions_document_events
    AFTER INSERT ON file_versions
    FOR EACH ROW EXECUTE FUNCTION notify_document_event()`
})

const checkLegacySchema = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ tableName: string; columnName: string; dataType: string }>`
    SELECT table_name, column_name, data_type
    FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name IN ${sql.in(Object.keys(legacyColumns))}`
  const problems: Array<string> = []
  for (const [table, columns] of Object.entries(legacyColumns)) {
    const present = new Map(rows.filter((row) => row.tableName === table).map((row) => [row.columnName, row.dataType]))
    if (present.size === 0) {
      problems.push(`table ${table} is missing`)
      continue
    }
    for (const [column, type] of Object.entries(columns)) {
      const actual = present.get(column)
      if (actual === undefined) problems.push(`${table}.${column} is missing`)
      else if (actual !== type) problems.push(`${table}.${column} is ${actual}, expected ${type}`)
    }
  }
  return problems
})

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const existing = yield* sql<{ tableName: string }>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_name IN ${sql.in(Object.keys(legacyColumns))}`
  if (existing.length === 0) {
    yield* createLegacySchema
    yield* Effect.logInfo("created the legacy schema on an empty database")
    return
  }
  const problems = yield* checkLegacySchema
  if (problems.length > 0) {
    return yield* new UnrecognisedSchema({
      message: `The database already has ${existing.map((row) => row.tableName).sort().join(", ")}, ` +
        `but not the legacy schema this project migrates from (${problems.join("; ")}). ` +
        `Nothing was changed. Point DATABASE_URL at an empty database or at a legacy (Alembic) deployment`
    })
  }
  yield* Effect.logInfo("adopted the existing legacy schema unchanged")
})
