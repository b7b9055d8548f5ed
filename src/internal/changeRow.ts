/**
 * A `document_changes` row of the feed's own query, as a `Change`.
 *
 * The rows come from one query of ours with fixed column types, so they are
 * built without running the schema again: decoding them with `Schema` cost
 * ten times what reading them from PostgreSQL does, and capped the catch-up
 * far below a bare keyset loop (docs/benchmarks.md). test/DocumentChanges.test.ts
 * checks that both give the same `Change` for any row.
 */
import { Change } from "../Change.js"

/** The row as PostgreSQL names its columns (the query runs without the client's key renaming). */
export interface Row {
  readonly id: bigint
  /** xid8, selected as text. */
  readonly tx_id: string
  readonly workspace_id: string
  readonly document_id: string
  readonly kind: string
  readonly op: string
  readonly version_no: number | null
  readonly changed_at: Date
}

export const fromRow = (row: Row): Change =>
  new Change({
    id: row.id,
    txId: BigInt(row.tx_id),
    workspaceId: row.workspace_id as Change["workspaceId"],
    documentId: row.document_id as Change["documentId"],
    kind: row.kind as Change["kind"],
    op: row.op as Change["op"],
    versionNo: row.version_no,
    changedAt: row.changed_at
  }, true)
