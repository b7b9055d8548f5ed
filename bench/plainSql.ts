/**
 * The yardstick of the migration benchmark: what migrations 0002 and 0003 do,
 * written as plain set-based SQL, one statement per step, in one transaction
 * over bare `pg`. No batches, no round trips per row, no TypeScript in the
 * loop; the same end state (checked by the benchmark on its first run).
 *
 * Where the migration computes in TypeScript, SQL stands in:
 * - name_key of inputs: NFC, lower(), NFC, every run of the whitespace that
 *   JavaScript's `\s` matches collapsed into one space, trimmed. lower() follows
 *   the database's ctype (C.UTF-8 here), which agrees with JavaScript on the
 *   generated names; that dependence on the locale is why the migration itself
 *   does not use SQL (SPEC section 4);
 * - content types: a CASE over common extensions, its values taken from the
 *   same MIME library (ContentType.infer), the extension found the way that
 *   library finds it; anything else gets application/octet-stream.
 */
import type pg from "pg"
import * as ContentType from "../src/ContentType.js"

const commonExtensions = [
  "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "txt", "csv", "tsv", "json", "xml", "html", "htm",
  "md", "yaml", "yml", "png", "jpg", "jpeg", "gif", "svg", "webp", "zip", "gz", "tar", "mp3", "mp4", "wav"
]

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`

/** `CASE <extension> WHEN 'pdf' THEN 'application/pdf' ... ELSE 'application/octet-stream' END` */
const contentTypeCase = (extension: string) => {
  const arms = commonExtensions
    .map((ext) => [ext, ContentType.infer(`x.${ext}`)] as const)
    .filter(([, type]) => type !== ContentType.fallback)
    .map(([ext, type]) => `WHEN ${literal(ext)} THEN ${literal(type)}`)
  return `CASE ${extension} ${arms.join(" ")} ELSE ${literal(ContentType.fallback)} END`
}

// JavaScript's `\s` (with the u flag): WhiteSpace and LineTerminator.
const whitespaceRun = String.raw`[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+`

const inputKey = (name: string) =>
  `btrim(regexp_replace(normalize(lower(normalize(${name}, NFC)), NFC), '${whitespaceRun}', ' ', 'g'))`

// The version repairs of 0002, in the same two statements.
const repairedStorageId = "CASE WHEN v.storage_version_id ~ '^[[:space:]]*$' THEN NULL ELSE v.storage_version_id END"
const badChecksum = "NOT (length(v.sha256) = 64 AND v.sha256 !~ '[^0-9a-f]')"
const repairedChecksum = `CASE WHEN ${badChecksum} THEN NULLIF(lower(btrim(v.sha256)), '') ELSE v.sha256 END`

export const steps: ReadonlyArray<{ readonly label: string; readonly statements: ReadonlyArray<string> }> = [
  {
    label: "drop change feed v1",
    statements: [
      "DROP TRIGGER files_document_events ON files",
      "DROP TRIGGER file_versions_document_events ON file_versions",
      "DROP FUNCTION notify_document_event()",
      "DROP TABLE document_events"
    ]
  },
  {
    label: "drop removed tables and columns",
    statements: [
      "DROP TABLE idempotency_keys",
      "DROP TABLE IF EXISTS alembic_version",
      "ALTER TABLE files DROP COLUMN version, DROP COLUMN doc_no, DROP COLUMN expires_at"
    ]
  },
  {
    label: "renames",
    statements: [
      "ALTER TABLE files RENAME COLUMN parent_file_id TO source_file_id",
      "ALTER TABLE file_versions RENAME COLUMN blob_version_id TO storage_version_id",
      "ALTER TABLE file_versions ALTER COLUMN storage_version_id DROP NOT NULL",
      // The name a fresh install gives the renamed foreign key (0002 renames it too).
      "ALTER TABLE files RENAME CONSTRAINT files_parent_file_id_fkey TO files_source_file_id_fkey"
    ]
  },
  {
    label: "kinds and name keys (one UPDATE of files)",
    statements: [
      "ALTER TABLE files DROP CONSTRAINT files_kind_check",
      "ALTER TABLE files DROP CONSTRAINT files_workspace_id_kind_name_key_key",
      `WITH keyed AS (
         SELECT id, workspace_id, kind, updated_at,
                CASE kind WHEN 'document' THEN ${inputKey("name")}
                  ELSE 'output:' || coalesce(source_file_id, run_id, id)::text
                END AS name_key
         FROM files
       ), ranked AS (
         SELECT id,
                CASE WHEN row_number() OVER (PARTITION BY workspace_id, kind, name_key
                                             ORDER BY updated_at DESC, id DESC) = 1
                  THEN name_key ELSE name_key || '#' || id::text
                END AS name_key
         FROM keyed
       )
       UPDATE files f
       SET kind = CASE f.kind WHEN 'document' THEN 'input' ELSE f.kind END, name_key = r.name_key
       FROM ranked r
       WHERE f.id = r.id AND (f.kind = 'document' OR f.name_key IS DISTINCT FROM r.name_key)`
    ]
  },
  {
    label: "kind check and name_key unique constraint",
    statements: [
      `ALTER TABLE files
         ADD CONSTRAINT files_kind_check CHECK (kind IN ('input', 'output', 'log', 'export')),
         ADD CONSTRAINT files_workspace_id_kind_name_key_key UNIQUE (workspace_id, kind, name_key)`
    ]
  },
  {
    label: "content types backfilled, with the other repairs of those versions",
    statements: [
      `UPDATE file_versions v SET
         content_type = t.content_type, storage_version_id = ${repairedStorageId}, sha256 = ${repairedChecksum}
       FROM (
         SELECT f.id,
                CASE WHEN length(p.ext) >= length(p.last) - 1 AND length(p.last) < length(f.name)
                  THEN ${literal(ContentType.fallback)}
                  ELSE ${contentTypeCase("p.ext")}
                END AS content_type
         FROM files f
         CROSS JOIN LATERAL (SELECT lower(regexp_replace(f.name, '^.*[/\\\\]', '')) AS last) l
         CROSS JOIN LATERAL (SELECT l.last, regexp_replace(l.last, '^.*\\.', '') AS ext) p
         WHERE f.kind <> 'input'
       ) t
       WHERE v.file_id = t.id AND v.content_type IS NULL`
    ]
  },
  {
    label: "blank storage ids and checksums of the other versions",
    statements: [
      `UPDATE file_versions v SET storage_version_id = ${repairedStorageId}, sha256 = ${repairedChecksum}
       WHERE v.storage_version_id ~ '^[[:space:]]*$' OR ${badChecksum}`
    ]
  },
  {
    label: "content_type enforcement",
    statements: [
      `CREATE FUNCTION require_generated_content_type() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF EXISTS (
           SELECT 1 FROM written_versions v JOIN files f ON f.id = v.file_id
           WHERE v.content_type IS NULL AND f.kind <> 'input'
         ) THEN
           RAISE EXCEPTION 'file_versions.content_type is required for generated documents (kind output, log or export)'
             USING ERRCODE = 'check_violation', TABLE = 'file_versions', COLUMN = 'content_type',
                   CONSTRAINT = 'file_versions_generated_content_type';
         END IF;
         RETURN NULL;
       END
       $$`,
      `CREATE TRIGGER file_versions_generated_content_type_insert
       AFTER INSERT ON file_versions REFERENCING NEW TABLE AS written_versions
       FOR EACH STATEMENT EXECUTE FUNCTION require_generated_content_type()`,
      `CREATE TRIGGER file_versions_generated_content_type_update
       AFTER UPDATE ON file_versions REFERENCING NEW TABLE AS written_versions
       FOR EACH STATEMENT EXECUTE FUNCTION require_generated_content_type()`
    ]
  },
  {
    label: "version CHECK constraints",
    statements: [
      `ALTER TABLE file_versions
         ADD CONSTRAINT file_versions_version_no_check CHECK (version_no >= 1),
         ADD CONSTRAINT file_versions_byte_size_check CHECK (byte_size >= 0),
         ADD CONSTRAINT file_versions_sha256_check CHECK (length(sha256) = 64 AND sha256 !~ '[^0-9a-f]')`
    ]
  },
  {
    label: "analyze",
    statements: ["ANALYZE files", "ANALYZE file_versions"]
  },
  {
    label: "document_changes, triggers, seed",
    statements: [
      `CREATE TABLE document_changes (
         id           bigserial PRIMARY KEY,
         tx_id        xid8 NOT NULL DEFAULT pg_current_xact_id(),
         workspace_id uuid NOT NULL,
         document_id  uuid NOT NULL,
         kind         text NOT NULL,
         op           text NOT NULL CHECK (op IN ('created', 'updated', 'deleted', 'version_added')),
         version_no   integer CHECK ((op = 'version_added') = (version_no IS NOT NULL)),
         changed_at   timestamptz NOT NULL DEFAULT now()
       )`,
      "CREATE INDEX document_changes_feed_order ON document_changes (tx_id, id)",
      "CREATE INDEX document_changes_workspace_feed_order ON document_changes (workspace_id, tx_id, id)",
      `CREATE TABLE document_feed (
         singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         epoch         uuid NOT NULL DEFAULT gen_random_uuid(),
         created_at    timestamptz NOT NULL DEFAULT now(),
         horizon_tx_id xid8,
         horizon_id    bigint,
         pruned_at     timestamptz,
         CHECK ((horizon_tx_id IS NULL) = (horizon_id IS NULL))
       )`,
      "INSERT INTO document_feed DEFAULT VALUES",
      `CREATE FUNCTION record_document_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
       $$`,
      `CREATE TRIGGER files_changes_insert AFTER INSERT ON files
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION record_document_change()`,
      `CREATE TRIGGER files_changes_update AFTER UPDATE ON files
       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION record_document_change()`,
      `CREATE TRIGGER files_changes_delete AFTER DELETE ON files
       REFERENCING OLD TABLE AS old_rows
       FOR EACH STATEMENT EXECUTE FUNCTION record_document_change()`,
      `CREATE TRIGGER file_versions_changes_insert AFTER INSERT ON file_versions
       REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION record_document_change()`,
      `INSERT INTO document_changes (workspace_id, document_id, kind, op)
       SELECT workspace_id, id, kind, 'created' FROM files ORDER BY created_at, id`
    ]
  }
]

export interface PlainSqlReport {
  readonly elapsedMs: number
  /** Milliseconds per step label, "commit" included. */
  readonly steps: ReadonlyArray<{ readonly label: string; readonly millis: number }>
}

/** Runs every step in one transaction on an open client; the client's database must be a fresh legacy copy. */
export const runPlainSql = async (client: pg.Client): Promise<PlainSqlReport> => {
  const timings: Array<{ label: string; millis: number }> = []
  const started = Date.now()
  await client.query("BEGIN")
  try {
    for (const step of steps) {
      const at = Date.now()
      for (const statement of step.statements) await client.query(statement)
      timings.push({ label: step.label, millis: Date.now() - at })
    }
    const at = Date.now()
    await client.query("COMMIT")
    timings.push({ label: "commit", millis: Date.now() - at })
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {})
    throw error
  }
  return { elapsedMs: Date.now() - started, steps: timings }
}
