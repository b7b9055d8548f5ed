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

export interface Row {
  readonly id: bigint
  /** xid8, selected as text. */
  readonly txId: string
  readonly workspaceId: string
  readonly documentId: string
  readonly kind: string
  readonly op: string
  readonly versionNo: number | null
  readonly changedAt: Date
}

export const fromRow = (row: Row): Change =>
  new Change({
    id: row.id,
    txId: BigInt(row.txId),
    workspaceId: row.workspaceId as Change["workspaceId"],
    documentId: row.documentId as Change["documentId"],
    kind: row.kind as Change["kind"],
    op: row.op as Change["op"],
    versionNo: row.versionNo,
    changedAt: row.changedAt
  }, true)
