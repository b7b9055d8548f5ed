/**
 * The documents service's reads: one document, a lookup by key, a listing
 * page (with its list-then-watch cursor), versions.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Page } from "../../Documents.js"
import { DocumentNotFound, InvalidInput, VersionNotFound } from "../../Errors.js"
import * as Cursor from "../cursor.js"
import * as PageToken from "../pageToken.js"
import { findKey } from "./keys.js"
import type { FindRequest, ListRequest } from "./requests.js"
import { decodeDocument, decodeVersion, documentRow, type Store } from "./store.js"

export const get = (store: Store) => (workspaceId: string, documentId: string) =>
  store.isolation.scoped(workspaceId)(documentRow(store, workspaceId, documentId))

export const find = (store: Store) => (request: typeof FindRequest.Type) =>
  store.isolation.scoped(request.workspaceId)(store.sql`
    SELECT * FROM files
    WHERE workspace_id = ${request.workspaceId} AND kind = ${request.kind} AND name_key = ${findKey(request)}`).pipe(
    Effect.flatMap((rows) =>
      rows.length === 0
        ? Effect.fail(new DocumentNotFound({ documentId: "", message: "no document with this key in this workspace" }))
        : decodeDocument(rows[0])
    )
  )

export const list = (store: Store) => (request: typeof ListRequest.Type) =>
  Effect.gen(function*() {
    const { sql } = store
    const listing = { order: request.order, kind: request.kind ?? null }
    const after = request.pageToken === undefined ? undefined : yield* PageToken.decode(request.pageToken, listing).pipe(
      Either.mapLeft((message) => new InvalidInput({ field: "pageToken", message }))
    )
    const newest = request.order === "newest"
    const direction = sql.literal(newest ? "DESC" : "ASC")
    const position = after === undefined
      ? sql``
      : newest
      ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`
      : sql`AND (created_at, id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)`
    // The page and the feed position come from one snapshot: streaming from `cursor`
    // misses nothing that happened after this page was read.
    const rows = yield* store.isolation.scoped(request.workspaceId)(sql<
      { feedEpoch: string; feedXmin: string; position: string; id: string | null }
    >`
      WITH feed AS (SELECT epoch, pg_snapshot_xmin(pg_current_snapshot())::text AS xmin FROM document_feed)
      SELECT feed.epoch AS feed_epoch, feed.xmin AS feed_xmin, page.*
      FROM feed LEFT JOIN LATERAL (
        SELECT *, created_at::text AS position FROM files
        WHERE workspace_id = ${request.workspaceId}
          ${request.kind ? sql`AND kind = ${request.kind}` : sql``}
          ${position}
        ORDER BY created_at ${direction}, id ${direction}
        LIMIT ${request.limit + 1}
      ) page ON true
      ORDER BY page.created_at ${direction}, page.id ${direction}`)
    const [feed] = rows
    const found = rows.filter((row) => row.id !== null)
    const page = found.slice(0, request.limit)
    const last = page.at(-1)
    return {
      documents: yield* Effect.forEach(page, decodeDocument),
      nextPageToken: found.length > request.limit && last
        ? PageToken.encode(listing, { createdAt: last.position, id: last.id! })
        : null,
      cursor: Cursor.encode({ epoch: feed!.feedEpoch, txId: BigInt(feed!.feedXmin), id: 0n })
    } satisfies Page
  })

const versionsOf = (
  store: Store,
  workspaceId: string,
  documentId: string,
  only?: { readonly versionNo?: number; readonly latest?: boolean }
) =>
  store.sql`
    SELECT v.* FROM file_versions v JOIN files f ON f.id = v.file_id
    WHERE f.id = ${documentId} AND f.workspace_id = ${workspaceId}
      ${only?.versionNo === undefined ? store.sql`` : store.sql`AND v.version_no = ${only.versionNo}`}
    ORDER BY v.version_no ${store.sql.literal(only?.latest ? "DESC LIMIT 1" : "ASC")}`.pipe(
    Effect.flatMap((rows) => Effect.forEach(rows, (row) => decodeVersion(row))),
    // No rows: either no such document here, or no such version of it.
    Effect.tap((versions) => versions.length === 0 ? documentRow(store, workspaceId, documentId) : Effect.void),
    store.isolation.scoped(workspaceId)
  )

export const versions = (store: Store) => (workspaceId: string, documentId: string) =>
  versionsOf(store, workspaceId, documentId)

/** One version by number, or the latest when `versionNo` is undefined. */
export const version = (store: Store) => (workspaceId: string, documentId: string, versionNo: number | undefined) =>
  versionsOf(store, workspaceId, documentId, versionNo === undefined ? { latest: true } : { versionNo }).pipe(
    Effect.flatMap(([version]) =>
      version
        ? Effect.succeed(version)
        : Effect.fail(
          new VersionNotFound({
            documentId,
            versionNo: versionNo ?? 0,
            message: versionNo === undefined
              ? `document ${documentId} has no versions`
              : `document ${documentId} has no version ${versionNo}`
          })
        )
    )
  )
