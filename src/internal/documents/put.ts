/**
 * `put`: one version of one document, in one statement.
 */
import { randomUUID } from "node:crypto"
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Written } from "../../Documents.js"
import * as NameKey from "../../NameKey.js"
import type * as DirectStatement from "../pg/directStatement.js"
import { contentTypeOf, keyLockClass, keySource, type Put, runOf, sourceOf } from "./keys.js"
import { raceOnVersionId, replayConflict, type StoredTarget } from "./replay.js"
import { decodeVersion, documentRow, type Store } from "./store.js"
import * as WrittenRow from "./writtenRow.js"

const replay = (store: Store, request: Put, versionId: string, contentType: string | null) =>
  Effect.gen(function*() {
    const rows = yield* store.sql<StoredTarget>`
      SELECT v.*, f.workspace_id, f.kind, f.name_key
      FROM file_versions v JOIN files f ON f.id = v.file_id
      WHERE v.id = ${versionId}`
    if (rows.length === 0) return Option.none()
    const stored = yield* decodeVersion(rows[0])
    yield* replayConflict(request, contentType, stored, rows[0]!)
    const document = yield* documentRow(store, request.workspaceId, stored.documentId)
    return Option.some<Written>({ document, version: stored, replayed: true })
  })

interface Outcome {
  readonly written: Written
  /** Whether the change feed's wake-up is taken care of; inside a transaction it follows the commit. */
  readonly hinted: boolean
}

// The write, built from its values. Curried, not a closure named inside `insert`: run under tsx (which
// keeps function names), every named closure costs a property definition on each put (docs/scaling.md).
const statement = (
  direct: DirectStatement.Statement,
  request: Put,
  newId: string,
  nameKey: string,
  versionId: string,
  contentType: string | null,
  source: string | null
) =>
(wake: boolean) =>
  // One statement, so one round trip and atomic without a transaction. Concurrent writers to one key
  // queue on its lock, then on the row the upsert creates or locks: version numbers have no gaps.
  // next_version_no() runs after the lock is held and reads with a snapshot of its own (0007), so it
  // sees the previous holder's version.
  // keyLock's expression written out: with plain values only, the statement's text is compiled once
  // (internal/pg/directStatement.ts).
  direct<WrittenRow.Row>`
      WITH key_lock AS (
        SELECT pg_advisory_xact_lock(${keyLockClass},
          hashtext(${request.workspaceId}::uuid::text || '/' || ${request.kind}::text || '/' || ${nameKey}::text))
      ), document AS (
        INSERT INTO files (id, workspace_id, kind, name, name_key, source_file_id, run_id)
        SELECT ${newId}::uuid, ${request.workspaceId}::uuid, ${request.kind}, ${request.name}, ${nameKey},
               ${source}::uuid, ${runOf(request)}::uuid
        FROM key_lock
        ON CONFLICT (workspace_id, kind, name_key) DO UPDATE SET updated_at = now()
        RETURNING *
      ), version AS (
        INSERT INTO file_versions
          (id, file_id, version_no, storage_key, storage_version_id, content_type, byte_size, sha256)
        SELECT ${versionId}, document.id, next_version_no(document.id), ${request.version.storageKey},
               ${request.version.storageVersionId ?? null}, ${contentType}, ${BigInt(request.version.byteSize)},
               ${request.version.sha256 ?? null}
        FROM document
        RETURNING *
      )
      SELECT document.*, version.id AS version_id, version.version_no, version.storage_key,
             version.storage_version_id, version.content_type, version.byte_size, version.sha256,
             version.created_at AS version_created_at,
             CASE WHEN ${wake}::boolean THEN pg_notify('docstore_document_changes', '1') END AS wake
      FROM document, version`

const outcome = ([row]: ReadonlyArray<WrittenRow.Row>, hinted: boolean): Outcome => ({
  written: { document: WrittenRow.document(row!), version: WrittenRow.version(row!), replayed: false },
  hinted
})

const insert = (store: Store, request: Put, versionId: string, contentType: string | null, source: string | null) => {
  const newId = randomUUID()
  const nameKey = NameKey.nameKey(keySource(request, newId))
  // Outside a transaction the statement commits by itself, so it can carry the change feed's wake-up
  // (internal/pg/wakeup.ts); inside one, the wake-up follows the commit.
  return Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
    Option.isNone(transaction)
      ? Effect.map(
        store.wakeup.carrying(statement(store.direct.outsideTransaction, request, newId, nameKey, versionId, contentType, source)),
        (rows) => outcome(rows, true)
      )
      : Effect.map(statement(store.direct, request, newId, nameKey, versionId, contentType, source)(false), (rows) => outcome(rows, false)))
}

// Written without Effect.gen: this is every put's path, and most take only its last step.
const write = (store: Store, request: Put) => {
  const contentType = contentTypeOf(request)
  const source = sourceOf(request)
  const versionId = request.version.id
  const inserted = insert(store, request, versionId ?? randomUUID(), contentType, source)
  const checked = source === null ? inserted : Effect.zipRight(documentRow(store, request.workspaceId, source), inserted)
  if (versionId === undefined) return checked
  return Effect.flatMap(
    replay(store, request, versionId, contentType),
    (replayed) => Option.isNone(replayed) ? checked : Effect.succeed<Outcome>({ written: replayed.value, hinted: true })
  )
}

export const put = (store: Store) => (request: Put) => {
  const attempt = write(store, request).pipe(
    store.isolation.scoped(request.workspaceId),
    Effect.flatMap(({ hinted, written }) => hinted ? Effect.succeed(written) : Effect.as(store.wakeup.notify, written))
  )
  // A version id drawn here (randomUUID) is nobody else's: only the caller's can be raced for.
  return request.version.id === undefined ? attempt : raceOnVersionId(attempt, request.version.id)
}
