/**
 * A large, messy legacy database for the migration benchmark, generated
 * server-side: a few `INSERT ... SELECT` over `generate_series`, with no
 * trigger firing while they run.
 *
 * Everything is a deterministic function of the row number (ids are md5s of a
 * seed and the number), so two databases generated with the same seed and size
 * are identical. What it produces, for `documents` = N:
 *
 * - 50 workspaces; doc_no a running number per workspace (outputs continue
 *   after the inputs of their workspace, with gaps);
 * - 2/3 of N inputs (kind 'document'), 1/3 outputs (kind 'output');
 * - 5% of inputs are named like another input of the same workspace except for
 *   case (ASCII and accented letters), surrounding or repeated whitespace
 *   (spaces, NBSP, ideographic space), or NFD instead of NFC accents: they
 *   collide once keys are normalised. The legacy name_key is the raw name, so
 *   the legacy unique constraint holds; some colliding pairs share updated_at
 *   (the id breaks the tie);
 * - names new uploads would refuse: slashes in 1/12 of inputs, a control
 *   character in 0.1%;
 * - outputs in groups of three runs of the same input; 85% keep their input,
 *   10% lost it (parent_file_id NULL, run_id set), 5% have neither;
 * - 1 to 3 versions per document (2N in all): blob_version_id '' for 20% and
 *   '  ' for 10%; content_type NULL for 10% of input versions and 80% of output
 *   versions; sha256 NULL, '' or upper-case for 2% each;
 * - idempotency keys (N/20) and a slice of the v1 event history (N/10 rows).
 */
import type pg from "pg"

/** Fixed: the collision construction relies on it (a partner is 50 inputs back, never a collider itself). */
export const workspaces = 50

const words = [
  "Report",
  "Résumé",
  "Invoice",
  "Café menu",
  "Été plan",
  "Contract",
  "Meeting notes",
  "Photo",
  "Q1/Q2 review",
  "Übersicht",
  "Déclaration",
  "Budget"
]
const inputExtensions = [".pdf", ".docx", ".txt", ".csv", ".xlsx", ".png", ".jpg", ".json", ".md", "", ".PDF", ".html"]
/** Output names: extensions the plain-SQL CASE of the benchmark knows, none, and one no library knows. */
export const outputExtensions = [".csv", ".json", ".pdf", ".txt", ".JSON", "", ".unknownext", ".md", ".html", ".xlsx"]
const inputContentTypes = [
  "application/pdf",
  "text/plain",
  "image/png",
  "text/csv",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "image/jpeg"
]

export interface LegacyDataOptions {
  readonly documents: number
  readonly seed?: string | undefined
  readonly log?: ((line: string) => void) | undefined
}

export interface LegacyDataSummary {
  readonly files: number
  readonly inputs: number
  readonly outputs: number
  readonly versions: number
  readonly workspaces: number
  /** Inputs named like another input of their workspace up to normalisation. */
  readonly collidingInputs: number
  readonly outputsWithoutInput: number
  readonly outputsWithNeither: number
  readonly blankBlobVersionIds: number
  readonly outputVersionsWithoutContentType: number
  /** Wall-clock time of the generation (inserts, trigger switching, VACUUM ANALYZE). */
  readonly millis: number
}

// A non-negative bigint hash of an integer expression (computed in bigint: row numbers times primes overflow int4).
const hash = (expression: string) => `(hashint8(${expression})::bigint + 2147483648)`

const pick = (array: ReadonlyArray<string>, index: string) =>
  `(ARRAY[${array.map((item) => `'${item.replaceAll("'", "''")}'`).join(", ")}]::text[])[1 + (${index}) % ${array.length}]`

// The display name of input number k: unique, since it contains k.
const baseName = (k: string) =>
  `(${pick(words, k)} || ' ' || (${k})::text || ${pick(inputExtensions, `(${k}) / ${words.length}`)})`

// Four ways of writing the same name that only normalisation makes equal; each differs from the name itself.
const variant = (selector: string, name: string) => `
  CASE (${selector}) % 4
    WHEN 0 THEN upper(${name})
    WHEN 1 THEN '  ' || replace(${name}, ' ', '   ') || ' '
    WHEN 2 THEN lower(normalize(${name}, NFD))
    ELSE replace(${name}, ' ', E'\\u00A0') || E'\\u3000'
  END`

// Six years of history, spread evenly over the inputs.
const createdAt = (k: string) =>
  `(timestamptz '2018-01-01 00:00:00+00' + make_interval(secs => (${k})::float8 * 189216000 / $1::int))`
const inputUpdatedAt = (k: string) => `(${createdAt(k)} + make_interval(hours => (${hash(`(${k})::bigint * 13 + 1`)} % 5000)::int))`

/** Fills an empty legacy database (the schema of migration 0001, no rows) and returns what it made. */
export const fillLegacyData = async (client: pg.Client, options: LegacyDataOptions): Promise<LegacyDataSummary> => {
  const log = options.log ?? (() => {})
  const documents = Math.floor(options.documents)
  if (documents < 3 * workspaces) throw new Error(`fillLegacyData: at least ${3 * workspaces} documents, got ${documents}`)
  const seed = options.seed ?? "docstore-bench"
  const inputs = Math.round((documents * 2) / 3)
  const outputs = documents - inputs
  const [existing] = (await client.query<{ n: string }>("SELECT count(*) AS n FROM files")).rows
  if (Number(existing!.n) !== 0) throw new Error("fillLegacyData: the database already has documents")

  const started = Date.now()
  const step = async (label: string, text: string, values: ReadonlyArray<unknown> = []) => {
    const at = Date.now()
    const result = await client.query(text, values as Array<unknown>)
    log(`  ${label}: ${result.rowCount ?? 0} rows, ${((Date.now() - at) / 1000).toFixed(1)} s`)
  }
  // Session-local, for the generation only; the benchmarked runs use their own sessions.
  await client.query("SET work_mem = '256MB'")
  await client.query("SET maintenance_work_mem = '512MB'")
  // Replica mode fires no trigger, the foreign-key checks included (generated rows are consistent by
  // construction): the versions insert took 107 s with its checks, 38 s without. It needs a superuser
  // (the embedded server); on another server only the legacy change-feed triggers are switched off.
  const replica = await client.query("SET session_replication_role = replica").then(() => true, () => false)
  const legacyTriggers = (action: "ENABLE" | "DISABLE") =>
    replica ? Promise.resolve() : client.query(
      `ALTER TABLE files ${action} TRIGGER files_document_events;
       ALTER TABLE file_versions ${action} TRIGGER file_versions_document_events`
    )
  await legacyTriggers("DISABLE")
  try {
    // $1 documents, $2 inputs, $3 seed.
    await step(
      "inputs",
      `INSERT INTO files (id, workspace_id, kind, doc_no, name, name_key, parent_file_id, run_id, version,
                          expires_at, created_at, updated_at)
       SELECT id, workspace_id, 'document', doc_no, name, name, NULL, NULL, version,
              CASE WHEN p % 10 = 3 THEN created_at + interval '1 year' END, created_at, updated_at
       FROM (
         SELECT p,
                md5($3::text || ':in:' || p)::uuid AS id,
                md5($3::text || ':ws:' || ((p - 1) % ${workspaces}))::uuid AS workspace_id,
                (p - 1) / ${workspaces} + 1 AS doc_no,
                CASE
                  WHEN p % 20 = 0 AND p > ${workspaces} THEN ${variant("p / 20", "names.partner")}
                  WHEN p % 1000 = 7 THEN names.own || E'\\u0007'
                  ELSE names.own
                END AS name,
                1 + (${hash("p::bigint * 7919 + 1")} % 3)::int AS version,
                ${createdAt("p")} AS created_at,
                CASE WHEN p % 20 = 0 AND p > ${workspaces} AND (p / 20) % 5 = 0
                  THEN ${inputUpdatedAt(`p - ${workspaces}`)}
                  ELSE ${inputUpdatedAt("p")}
                END AS updated_at
         FROM generate_series(1, $2::int) p
         CROSS JOIN LATERAL (SELECT ${baseName("p")} AS own, ${baseName(`p - ${workspaces}`)} AS partner) names
       ) generated`,
      [documents, inputs, seed]
    )
    // $1 documents, $2 inputs, $3 seed, $4 outputs.
    await step(
      "outputs",
      `INSERT INTO files (id, workspace_id, kind, doc_no, name, name_key, parent_file_id, run_id, version,
                          expires_at, created_at, updated_at)
       SELECT id, workspace_id, 'output',
              ${Math.ceil(inputs / workspaces)} + row_number() OVER (PARTITION BY workspace_id ORDER BY j),
              name, name, parent_file_id, run_id, version,
              CASE WHEN j % 4 = 0 THEN created_at + interval '30 days' END, created_at,
              created_at + make_interval(hours => (${hash("j::bigint * 3 + 1")} % 2000)::int)
       FROM (
         SELECT j,
                md5($3::text || ':out:' || j)::uuid AS id,
                md5($3::text || ':ws:' || ((x.input - 1) % ${workspaces}))::uuid AS workspace_id,
                'summary-' || j || ${pick(outputExtensions, "j / 3")} AS name,
                CASE WHEN x.category >= 3 THEN md5($3::text || ':in:' || x.input)::uuid END AS parent_file_id,
                CASE WHEN x.category >= 1 THEN md5($3::text || ':run:' || x.grp || ':' || x.run)::uuid END AS run_id,
                1 + (${hash("j::bigint * 7919 + 2")} % 3)::int AS version,
                ${createdAt("x.input")} + make_interval(days => x.run + 1, secs => (${hash("j::bigint")} % 3600)::int)
                  AS created_at
         FROM generate_series(1, $4::int) j
         CROSS JOIN LATERAL (
           SELECT (j - 1) / 3 AS grp, (j - 1) % 3 AS run, 1 + (2 * ((j - 1) / 3)) % $2::int AS input,
                  ${hash("j::bigint * 31 + 5")} % 20 AS category
         ) x
       ) generated`,
      [documents, inputs, seed, outputs]
    )
    await step(
      "versions",
      `INSERT INTO file_versions (id, file_id, version_no, storage_key, blob_version_id, content_type, byte_size,
                                  sha256, created_at)
       SELECT md5(f.id::text || ':v' || v)::uuid, f.id, v,
              f.workspace_id::text || '/' || f.id::text || '/' || v,
              CASE WHEN x.h % 10 < 2 THEN '' WHEN x.h % 10 = 2 THEN '  ' ELSE 'bv-' || left(md5(f.id::text || v), 20) END,
              CASE WHEN f.kind = 'document'
                THEN CASE WHEN (x.h / 10) % 10 = 0 THEN NULL ELSE ${pick(inputContentTypes, "x.h / 100")} END
                ELSE CASE (x.h / 10) % 10 WHEN 8 THEN 'text/csv' WHEN 9 THEN 'text/x-custom' END
              END,
              (x.h / 1000) % 50000000,
              CASE (x.h / 7) % 50
                WHEN 0 THEN NULL
                WHEN 1 THEN upper(encode(sha256(convert_to(f.id::text || ':' || v, 'UTF8')), 'hex'))
                WHEN 2 THEN ''
                ELSE encode(sha256(convert_to(f.id::text || ':' || v, 'UTF8')), 'hex')
              END,
              f.created_at + make_interval(days => v - 1)
       FROM files f
       CROSS JOIN LATERAL generate_series(1, f.version) v
       CROSS JOIN LATERAL (SELECT hashtextextended(f.id::text || ':' || v, 0) & 9223372036854775807 AS h) x`
    )
    await step(
      "idempotency keys",
      `INSERT INTO idempotency_keys (workspace_id, key, request_hash, response)
       SELECT md5($1::text || ':ws:' || (i % ${workspaces}))::uuid, 'upload-' || i, md5('request' || i),
              CASE WHEN i % 3 <> 0 THEN jsonb_build_object('ok', true, 'n', i) END
       FROM generate_series(1, $2::int) i`,
      [seed, Math.max(1, Math.floor(documents / 20))]
    )
    await step(
      "v1 event history",
      `INSERT INTO document_events (workspace_id, file_id, event_type, payload, created_at)
       SELECT workspace_id, id, 'created', jsonb_build_object('id', id, 'kind', kind, 'name', name), created_at
       FROM files ORDER BY created_at, id LIMIT $1::int`,
      [Math.max(1, Math.floor(documents / 10))]
    )
  } finally {
    await (replica ? client.query("RESET session_replication_role") : legacyTriggers("ENABLE"))
  }
  await step("vacuum", "VACUUM (FREEZE, ANALYZE)")

  const [counts] = (await client.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM files) AS files,
            (SELECT count(*) FROM files WHERE kind = 'document') AS inputs,
            (SELECT count(*) FROM files WHERE kind = 'output') AS outputs,
            (SELECT count(*) FROM files WHERE kind = 'output' AND parent_file_id IS NULL AND run_id IS NOT NULL)
              AS outputs_without_input,
            (SELECT count(*) FROM files WHERE kind = 'output' AND parent_file_id IS NULL AND run_id IS NULL)
              AS outputs_with_neither,
            (SELECT count(DISTINCT workspace_id) FROM files) AS workspaces,
            (SELECT count(*) FROM file_versions) AS versions,
            (SELECT count(*) FROM file_versions WHERE blob_version_id ~ '^[[:space:]]*$') AS blank_blob_version_ids,
            (SELECT count(*) FROM file_versions v JOIN files f ON f.id = v.file_id
             WHERE f.kind = 'output' AND v.content_type IS NULL) AS output_versions_without_content_type`
  )).rows
  const n = (key: string) => Number(counts![key])
  let collidingInputs = 0
  for (let p = 20; p <= inputs; p += 20) if (p > workspaces) collidingInputs += 1
  return {
    files: n("files"),
    inputs: n("inputs"),
    outputs: n("outputs"),
    versions: n("versions"),
    workspaces: n("workspaces"),
    collidingInputs,
    outputsWithoutInput: n("outputs_without_input"),
    outputsWithNeither: n("outputs_with_neither"),
    blankBlobVersionIds: n("blank_blob_version_ids"),
    outputVersionsWithoutContentType: n("output_versions_without_content_type"),
    millis: Date.now() - started
  }
}
