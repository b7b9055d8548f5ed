/**
 * 0002 simplify files: from the legacy shape to the target shape of
 * `files` and `file_versions` (docs/migrations.md, step 0002).
 *
 * The legacy change-feed triggers are off for the duration, so the backfill
 * does not flood `document_events` (0003 drops them). Every row keeps its id;
 * nothing is merged or deleted.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as ContentTypes from "./frozen/contentTypes.js"
import * as NameKeys from "./frozen/nameKeys.js"

/** Rows per round trip of the backfills: memory stays flat whatever the table size. */
export const batchSize = 10_000

const legacyTriggers = [
  ["files", "files_document_events"],
  ["file_versions", "file_versions_document_events"]
] as const

const setLegacyTriggers = (state: "ENABLE" | "DISABLE") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const [table, trigger] of legacyTriggers) {
      const [present] = yield* sql`
        SELECT 1 FROM pg_trigger WHERE tgrelid = ${table}::regclass AND tgname = ${trigger}`
      if (present) yield* sql.unsafe(`ALTER TABLE ${table} ${state} TRIGGER ${trigger}`)
    }
  })

/**
 * Alembic may have named constraints its own way: give each the name a fresh
 * install has, so an upgraded and a fresh database are identical.
 */
const canonicalConstraintName = (
  table: string,
  type: "p" | "f" | "u",
  columns: ReadonlyArray<string>,
  name: string
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const found = yield* sql<{ conname: string }>`
      SELECT c.conname
      FROM pg_constraint c
      WHERE c.conrelid = ${table}::regclass AND c.contype = ${type}
        AND (SELECT array_agg(a.attname::text ORDER BY k.ordinality)
             FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ordinality)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) = ${columns}::text[]`
    for (const { conname } of found) {
      if (conname !== name) yield* sql.unsafe(`ALTER TABLE ${table} RENAME CONSTRAINT "${conname}" TO ${name}`)
    }
  })

const dropConstraints = (table: string, type: "c" | "u", mentioning: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const found = yield* sql<{ conname: string }>`
      SELECT conname FROM pg_constraint
      WHERE conrelid = ${table}::regclass AND contype = ${type}
        AND pg_get_constraintdef(oid) LIKE ${`%${mentioning}%`}`
    for (const { conname } of found) yield* sql.unsafe(`ALTER TABLE ${table} DROP CONSTRAINT "${conname}"`)
  })

const dropRemovedParts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TABLE idempotency_keys`
  yield* sql`DROP TABLE IF EXISTS alembic_version`
  yield* sql`ALTER TABLE files DROP COLUMN version, DROP COLUMN doc_no, DROP COLUMN expires_at`
})

const renameColumns = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE files RENAME COLUMN parent_file_id TO source_file_id`
  yield* sql`ALTER TABLE file_versions RENAME COLUMN blob_version_id TO storage_version_id`
  yield* sql`ALTER TABLE file_versions ALTER COLUMN storage_version_id DROP NOT NULL`
  yield* canonicalConstraintName("files", "p", ["id"], "files_pkey")
  yield* canonicalConstraintName("files", "f", ["source_file_id"], "files_source_file_id_fkey")
  yield* canonicalConstraintName("file_versions", "p", ["id"], "file_versions_pkey")
  yield* canonicalConstraintName("file_versions", "f", ["file_id"], "file_versions_file_id_fkey")
  yield* canonicalConstraintName("file_versions", "u", ["file_id", "version_no"], "file_versions_file_id_version_no_key")
})

interface FileRow {
  readonly id: string
  /** The legacy kind: 'document' is an input. */
  readonly kind: "document" | "output"
  readonly name: string
  readonly sourceFileId: string | null
  readonly runId: string | null
}

/**
 * One pass over `files`, in batches by primary key, computes in TypeScript
 * what SQL must not: every document's key (the name-key rules, not the
 * database's locale) and, for generated documents, the content type its name
 * implies (the `mime` table); both as frozen in `frozen/` when this step was
 * written. Results go to a scratch table; set-based statements then apply
 * them.
 */
const computeInTypeScript = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TEMPORARY TABLE files_backfill (
      id uuid PRIMARY KEY,
      name_key text NOT NULL,
      content_type text
    ) ON COMMIT DROP`
  let after = "00000000-0000-0000-0000-000000000000"
  let done = 0
  for (;;) {
    const rows = yield* sql<FileRow>`
      SELECT id, kind, name, source_file_id, run_id FROM files
      WHERE id > ${after} ORDER BY id LIMIT ${batchSize}`
    if (rows.length === 0) break
    const keys = rows.map(NameKeys.legacyKey)
    const contentTypes = rows.map((row) => row.kind === "document" ? null : ContentTypes.infer(row.name))
    yield* sql`
      INSERT INTO files_backfill (id, name_key, content_type)
      SELECT * FROM unnest(${rows.map((row) => row.id)}::uuid[], ${keys}::text[], ${contentTypes}::text[])`
    after = rows[rows.length - 1]!.id
    done += rows.length
    if (done % (batchSize * 10) === 0) yield* Effect.logInfo(`files: ${done} documents keyed`)
  }
  if (done % (batchSize * 10) !== 0) yield* Effect.logInfo(`files: ${done} documents keyed`)
})

/**
 * One UPDATE over `files`, rewriting each row at most once: kind 'document'
 * becomes 'input', and every key is applied with the collision policy: per
 * workspace, kind and key the latest (updated_at, id) keeps the key, every
 * other row gets `<key>#<id>`. (The legacy kinds
 * partition the rows exactly as the new ones do.)
 */
const applyKindsAndNameKeys = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* dropConstraints("files", "c", "kind")
  yield* dropConstraints("files", "u", "name_key")
  const [result] = yield* sql<{ changed: bigint; disambiguated: bigint }>`
    WITH ranked AS (
      SELECT b.id, b.name_key, f.name_key AS legacy_key,
             row_number() OVER (
               PARTITION BY f.workspace_id, f.kind, b.name_key
               ORDER BY f.updated_at DESC, f.id DESC) AS rank
      FROM files_backfill b JOIN files f USING (id)
    ), keyed AS (
      SELECT id, legacy_key, rank > 1 AS disambiguated,
             CASE WHEN rank = 1 THEN name_key ELSE name_key || '#' || id::text END AS name_key
      FROM ranked
    ), updated AS (
      UPDATE files f
      SET kind = CASE f.kind WHEN 'document' THEN 'input' ELSE f.kind END, name_key = k.name_key
      FROM keyed k
      WHERE f.id = k.id AND (f.kind = 'document' OR f.name_key IS DISTINCT FROM k.name_key)
      RETURNING k.legacy_key IS DISTINCT FROM k.name_key AS key_changed
    )
    SELECT (SELECT count(*) FROM updated WHERE key_changed) AS changed,
           (SELECT count(*) FROM keyed WHERE disambiguated) AS disambiguated`
  yield* sql`
    ALTER TABLE files
      ADD CONSTRAINT files_kind_check CHECK (kind IN ('input', 'output', 'log', 'export')),
      ADD CONSTRAINT files_workspace_id_kind_name_key_key UNIQUE (workspace_id, kind, name_key)`
  yield* Effect.logInfo(
    `name_key: ${result!.changed} keys changed, ${result!.disambiguated} disambiguated as <key>#<id>`
  )
})

// Blank storage version ids become NULL; upper-case or blank legacy checksums are lower-cased or cleared
// (anything else invalid stops the migration at the CHECK below). "64 characters, none outside 0-9a-f":
// the regex '^[0-9a-f]{64}$' is ten times slower (0008).
const blankStorageId = "v.storage_version_id ~ '^[[:space:]]*$'"
const repairedStorageId = `CASE WHEN ${blankStorageId} THEN NULL ELSE v.storage_version_id END`
/** The rule of file_versions_sha256_check. */
const checksumRule = "length(sha256) = 64 AND sha256 !~ '[^0-9a-f]'"
const repairedChecksum = `CASE WHEN NOT (${checksumRule}) THEN NULLIF(lower(btrim(sha256)), '') ELSE sha256 END`

/**
 * Each version that needs a repair is rewritten once: first the versions of
 * generated documents without a content type get the one the document's name
 * implies (and any other repair they need), then the other versions with a
 * blank storage id or a bad checksum. Two statements rather than one, so that
 * the counts logged are exact: an UPDATE cannot return the values it replaced.
 */
const repairVersions = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [typed] = yield* sql<{ backfilled: bigint; blanks: bigint }>`
    WITH backfilled AS (
      UPDATE file_versions v SET
        content_type = b.content_type,
        storage_version_id = ${sql.literal(repairedStorageId)},
        sha256 = ${sql.literal(repairedChecksum)}
      FROM files_backfill b
      WHERE b.id = v.file_id AND b.content_type IS NOT NULL AND v.content_type IS NULL
      RETURNING v.storage_version_id IS NULL AS blank
    )
    SELECT count(*) AS backfilled, count(*) FILTER (WHERE blank) AS blanks FROM backfilled`
  // The legacy column was NOT NULL: a NULL here is a blank this migration cleared.
  const [rest] = yield* sql<{ blanks: bigint }>`
    WITH repaired AS (
      UPDATE file_versions v SET
        storage_version_id = ${sql.literal(repairedStorageId)},
        sha256 = ${sql.literal(repairedChecksum)}
      WHERE ${sql.literal(blankStorageId)} OR NOT (${sql.literal(checksumRule)})
      RETURNING v.storage_version_id IS NULL AS blank
    )
    SELECT count(*) FILTER (WHERE blank) AS blanks FROM repaired`
  yield* Effect.logInfo(`storage_version_id: ${typed!.blanks + rest!.blanks} blank values set to NULL`)
  yield* Effect.logInfo(`content_type: ${typed!.backfilled} versions of generated documents backfilled`)
})

/**
 * From here on the database refuses a generated version without a content
 * type, and any version that breaks the rules of the target schema.
 */
const addVersionChecks = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE FUNCTION require_generated_content_type() RETURNS trigger LANGUAGE plpgsql AS $$
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
    $$`
  yield* sql`
    CREATE TRIGGER file_versions_generated_content_type_insert
    AFTER INSERT ON file_versions REFERENCING NEW TABLE AS written_versions
    FOR EACH STATEMENT EXECUTE FUNCTION require_generated_content_type()`
  yield* sql`
    CREATE TRIGGER file_versions_generated_content_type_update
    AFTER UPDATE ON file_versions REFERENCING NEW TABLE AS written_versions
    FOR EACH STATEMENT EXECUTE FUNCTION require_generated_content_type()`
  yield* sql`
    ALTER TABLE file_versions
      ADD CONSTRAINT file_versions_version_no_check CHECK (version_no >= 1),
      ADD CONSTRAINT file_versions_byte_size_check CHECK (byte_size >= 0),
      ADD CONSTRAINT file_versions_sha256_check CHECK (${sql.literal(checksumRule)})`
})

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* setLegacyTriggers("DISABLE")
  yield* dropRemovedParts
  yield* renameColumns
  yield* computeInTypeScript
  yield* applyKindsAndNameKeys
  yield* repairVersions
  yield* addVersionChecks
  yield* setLegacyTriggers("ENABLE")
  yield* sql`ANALYZE files`
  yield* sql`ANALYZE file_versions`
})
