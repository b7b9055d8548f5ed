/**
 * Positions in the change log, `(tx_id, id)`, and the stream filters the
 * soak's streams and consumers use: how to compare, show and match them, and
 * how to put a filter into a side query.
 */
import type { Change } from "../src/Change.js"
import * as Cursor from "../src/internal/cursor.js"

export type Position = Cursor.Position

export const zero: Position = { txId: 0n, id: 0n }
export const compare = Cursor.compare
export const max = (a: Position | null, b: Position): Position => a === null || compare(b, a) > 0 ? b : a
export const show = (p: Position | null) => p === null ? "-" : `(${p.txId},${p.id})`
export const keyOf = (p: Position) => `${p.txId}:${p.id}`
export const positionOfChange = (change: Change): Position => ({ txId: change.txId, id: change.id })
export const decodeCursor = (cursor: string): Position | null => {
  const decoded = Cursor.decode(cursor)
  return decoded._tag === "Right" ? { txId: decoded.right.txId, id: decoded.right.id } : null
}
/** A position from a side query's `::text` columns, or null where the row had none. */
export const positionOfRow = (txId: string | null | undefined, id: string | null | undefined): Position | null =>
  txId ? { txId: BigInt(txId), id: BigInt(id!) } : null

export interface Filter {
  readonly workspaceId?: string | undefined
  readonly kind?: string | undefined
}

/** The filter as ` AND …` conditions, its values appended to `params`. */
export const filterSql = (filter: Filter, params: Array<unknown>) => {
  let clause = ""
  if (filter.workspaceId !== undefined) {
    params.push(filter.workspaceId)
    clause += ` AND workspace_id = $${params.length}`
  }
  if (filter.kind !== undefined) {
    params.push(filter.kind)
    clause += ` AND kind = $${params.length}`
  }
  return clause
}

/** The parameters `$1..$4` of a side query over the changes in `(from, upTo]`. */
export const rangeParams = (from: Position, upTo: Position): Array<unknown> => [
  String(from.txId),
  String(from.id),
  String(upTo.txId),
  String(upTo.id)
]

export const matchesFilter = (filter: Filter, change: Change) =>
  (filter.workspaceId === undefined || change.workspaceId === filter.workspaceId) &&
  (filter.kind === undefined || change.kind === filter.kind)

export const describeFilter = (filter: Filter) =>
  [filter.workspaceId ? `workspace ${filter.workspaceId.slice(0, 8)}` : "all", filter.kind].filter(Boolean).join("/")
