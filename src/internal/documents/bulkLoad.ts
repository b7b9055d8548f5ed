/**
 * putMany's two writes, in two ways: `COPY` (text format) into temporary
 * tables on the transaction's own `pg` connection, then one `INSERT ...
 * SELECT` per table; or, on a client whose connection is not a `pg` client,
 * multi-row `INSERT ... SELECT FROM unnest(...)` of parameter arrays. COPY is
 * the faster load (docs/scaling.md, "bulk"): the client writes lines instead
 * of escaping array elements, and the server reads them without parsing
 * arrays. The versions go straight into their table; the documents need `ON
 * CONFLICT`, so they go through a temporary table, and so do the versions
 * under tenant isolation (COPY FROM refuses a table under row-level
 * security).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import pg from "pg"
import { copyIn, copyText } from "../pg/copyIn.js"
import type { Put } from "./keys.js"
import { runOf, sourceOf } from "./keys.js"
import type { Store } from "./store.js"

/** A document to create (or lock, if its key exists), in key order. */
export interface DocumentRow {
  readonly request: Put
  readonly id: string
  readonly nameKey: string
}

/** A version to insert: its document and number are decided by the client. */
export interface VersionRow {
  readonly request: Put
  readonly versionId: string
  readonly contentType: string | null
  readonly documentId: string
  readonly versionNo: number
}

export interface Existing {
  readonly id: string
  readonly workspaceId: string
  readonly kind: string
  readonly nameKey: string
}

export interface Loader {
  /** Creates the new documents and locks the existing ones, in the rows' order; returns those that existed. */
  readonly upsertDocuments: (rows: ReadonlyArray<DocumentRow>) => Effect.Effect<ReadonlyArray<Existing>, SqlError>
  readonly insertVersions: (rows: ReadonlyArray<VersionRow>) => Effect.Effect<void, SqlError>
}

/** The transaction's `pg` client, when the client is `@effect/sql-pg`'s (its connection holds it as `pg`). */
const transactionClient = Effect.map(
  Effect.serviceOption(SqlClient.TransactionConnection),
  Option.flatMap(([connection]) => {
    const client = (connection as { readonly pg?: unknown }).pg
    return client instanceof pg.Client ? Option.some(client) : Option.none()
  })
)

/** The loader for the current transaction. */
export const loader = (store: Store): Effect.Effect<Loader> =>
  Effect.map(transactionClient, Option.match({ onNone: () => unnestLoader(store), onSome: (client) => copyLoader(store, client) }))

// Where the upsert's RETURNING goes: only the documents that existed come back (a new one has the id given).
const existedOnly = "SELECT id, workspace_id, kind, name_key FROM upserted WHERE existed"

const copyLoader = (store: Store, client: pg.ClientBase): Loader => ({
  upsertDocuments: (rows) =>
    Effect.gen(function*() {
      // Dropped at the end, so that a second putMany in the caller's transaction can create it again.
      yield* store.sql`
        CREATE TEMP TABLE docstore_put_files
          (ord int, id uuid, workspace_id uuid, kind text, name text, name_key text, source_file_id uuid, run_id uuid)
        ON COMMIT DROP`
      yield* copyIn(client, "COPY docstore_put_files FROM STDIN", function*() {
        let i = 0
        for (const { id, nameKey, request } of rows) {
          yield `${i++}\t${id}\t${request.workspaceId}\t${request.kind}\t${copyText(request.name)}\t${copyText(nameKey)}\t${
            copyText(sourceOf(request))
          }\t${copyText(runOf(request))}\n`
        }
      })
      // In the rows' (key) order, so that two imports sharing keys queue instead of deadlocking.
      const existing = yield* store.sql<Existing>`
        WITH upserted AS (
          INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
          SELECT id, workspace_id, kind, name, name_key, source_file_id, run_id FROM docstore_put_files ORDER BY ord
          ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()
          RETURNING id, workspace_id, kind, name_key, xmax <> 0 AS existed
        )
        ${store.sql.unsafe(existedOnly)}`
      yield* store.sql`DROP TABLE docstore_put_files`
      return existing
    }),
  // Without tenant isolation nothing stands in the way of COPY into the table itself (the versions need no
  // ON CONFLICT), which saves writing and reading them again (docs/scaling.md).
  insertVersions: (rows) =>
    !store.isolation.enabled
      ? copyIn(client, `COPY file_versions (${versionColumns}) FROM STDIN`, () => versionLines(rows))
      : Effect.gen(function*() {
        yield* store.sql`
          CREATE TEMP TABLE docstore_put_versions (
            id uuid, file_id uuid, version_no int, storage_key text, storage_version_id text, content_type text,
            byte_size bigint, sha256 text
          ) ON COMMIT DROP`
        yield* copyIn(client, "COPY docstore_put_versions FROM STDIN", () => versionLines(rows))
        yield* store.sql`
          INSERT INTO file_versions (${store.sql.unsafe(versionColumns)})
          SELECT * FROM docstore_put_versions`
        yield* store.sql`DROP TABLE docstore_put_versions`
      })
})

const versionColumns = "id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256"

function* versionLines(rows: ReadonlyArray<VersionRow>) {
  for (const { contentType, documentId, request: { version }, versionId, versionNo } of rows) {
    yield `${versionId}\t${documentId}\t${versionNo}\t${copyText(version.storageKey)}\t${
      copyText(version.storageVersionId ?? null)
    }\t${copyText(contentType)}\t${version.byteSize}\t${copyText(version.sha256 ?? null)}\n`
  }
}

const unnestLoader = (store: Store): Loader => ({
  upsertDocuments: (rows) => {
    const { sql } = store
    return sql<Existing>`
      WITH upserted AS (
        INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
        SELECT * FROM unnest(
          ${rows.map((t) => t.id)}::uuid[],
          ${rows.map((t) => t.request.workspaceId)}::uuid[],
          ${rows.map((t) => t.request.kind)}::text[],
          ${rows.map((t) => t.request.name)}::text[],
          ${rows.map((t) => t.nameKey)}::text[],
          ${rows.map((t) => sourceOf(t.request))}::uuid[],
          ${rows.map((t) => runOf(t.request))}::uuid[])
        ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()
        RETURNING id, workspace_id, kind, name_key, xmax <> 0 AS existed
      )
      ${sql.unsafe(existedOnly)}`
  },
  insertVersions: (rows) =>
    store.sql`
      INSERT INTO file_versions (${store.sql.unsafe(versionColumns)})
      SELECT * FROM unnest(
        ${rows.map((r) => r.versionId)}::uuid[],
        ${rows.map((r) => r.documentId)}::uuid[],
        ${rows.map((r) => r.versionNo)}::int[],
        ${rows.map((r) => r.request.version.storageKey)}::text[],
        ${rows.map((r) => r.request.version.storageVersionId ?? null)}::text[],
        ${rows.map((r) => r.contentType)}::text[],
        ${rows.map((r) => String(r.request.version.byteSize))}::bigint[],
        ${rows.map((r) => r.request.version.sha256 ?? null)}::text[])`.pipe(Effect.asVoid)
})
