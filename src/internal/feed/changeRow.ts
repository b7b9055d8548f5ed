/**
 * A `document_changes` row of the feed's own query, as a `Change`.
 *
 * The rows come from one query of ours with fixed column types, so they are
 * built without running the schema again: decoding them with `Schema` cost
 * ten times what reading them from PostgreSQL does, and capped the catch-up
 * far below a bare keyset loop (docs/benchmarks.md). test/Change.test.ts
 * checks that both give the same `Change` for any row, and
 * test/DocumentChanges.test.ts that `changedAt` is the `Date` the client's own
 * timestamptz parser gives.
 */
import { Change } from "../../Change.js"

/**
 * The row as the client returns it in array mode, which spares the client
 * building an object per row (a copy of a template object, then each column
 * by name; docs/scaling.md has the figure).
 */
export type Row = readonly [
  id: bigint,
  /** xid8, which the client leaves as text. */
  txId: string,
  workspaceId: string,
  documentId: string,
  kind: string,
  op: string,
  versionNo: number | null,
  /**
   * Milliseconds since 1970 rounded down, selected as numeric (which the
   * client leaves as text): a number costs a tenth of parsing timestamptz
   * text, and rounding down is what that parser does with the microseconds.
   */
  changedAtMillis: string
]

// What `new Change(props, true)` builds (its own properties in field order, Change's prototype),
// without the class constructor's copying and default-merging, which cost more than the rest of a row.
interface Built {
  id: bigint
  txId: bigint
  workspaceId: string
  documentId: string
  kind: string
  op: string
  versionNo: number | null
  changedAt: Date
}
function Built(this: Built, row: Row) {
  this.id = row[0]
  this.txId = BigInt(row[1])
  this.workspaceId = row[2]
  this.documentId = row[3]
  this.kind = row[4]
  this.op = row[5]
  this.versionNo = row[6]
  this.changedAt = new Date(Number(row[7]))
}
Built.prototype = Change.prototype

export const fromRow = (row: Row): Change => new (Built as unknown as new(row: Row) => Change)(row)
