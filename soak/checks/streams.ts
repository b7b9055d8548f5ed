/**
 * The checks of `stream-order` (each stream's changes in strictly increasing
 * order, within its filter, cursors never going back) and `stream-complete`
 * (what a stream delivered is what the log holds); their definitions are in
 * soak/soak.ts's header.
 */
import * as Effect from "effect/Effect"
import type { Change } from "../../src/Change.js"
import type * as DocumentChanges from "../../src/DocumentChanges.js"
import type { Harness } from "../harness.js"
import {
  compare,
  decodeCursor,
  describeFilter,
  filterSql,
  keyOf,
  matchesFilter,
  type Position,
  positionOfChange,
  positionOfRow,
  rangeParams,
  show
} from "../position.js"
import type { StreamTrack } from "../state.js"
import { checkStreamProgress } from "./progress.js"

/** The event's cursor, or null (a violation) where it does not decode. */
export const checkCursor = (h: Harness, track: StreamTrack, event: DocumentChanges.FeedEvent): Position | null => {
  const position = decodeCursor(event.cursor)
  if (position === null) h.violation("stream-order", `${track.name}: a ${event._tag} carried a cursor that does not decode`)
  return position
}

/** A delivered change: its own cursor, after the last one, within the filter. */
export const checkChange = (h: Harness, track: StreamTrack, change: Change, position: Position) => {
  const at = positionOfChange(change)
  if (compare(at, position) !== 0) {
    h.violation("stream-order", `${track.name}: change ${show(at)} carried the cursor of ${show(position)}`)
  }
  if (track.last !== null && compare(at, track.last) <= 0) {
    h.violation(
      "stream-order",
      `${track.name}: ${compare(at, track.last) === 0 ? "delivered twice" : "out of order"}: ${show(at)} after ${show(track.last)}`
    )
  }
  if (!matchesFilter(track.filter, change)) {
    h.violation("stream-order", `${track.name}: change ${show(at)} of ${change.workspaceId}/${change.kind} does not match its filter`)
  }
}

/** Every event's cursor is at or past the furthest seen. */
export const checkCursorForward = (h: Harness, track: StreamTrack, event: DocumentChanges.FeedEvent, position: Position) => {
  if (track.known !== null && compare(position, track.known) < 0) {
    h.violation("stream-order", `${track.name}: a ${event._tag} cursor ${show(position)} went back from ${show(track.known)}`)
  }
}

/** A stream (or its final catch-up) failed with a typed error other than `CursorExpired`. */
export const streamFailed = (h: Harness, description: string) => h.violation("stream-order", description)

/** The changes delivered since the last check against the log, then the stream's progress. */
export const checkStreamComplete = (h: Harness, track: StreamTrack) =>
  Effect.gen(function*() {
    const upTo = track.known
    const from = track.checkedTo
    if (upTo === null || from === null || compare(upTo, from) <= 0) return
    // A stream from "now" may deliver changes below the point its checks start from: those are not checked.
    const delivered = track.pending.filter((p) => compare(p, from) > 0 && compare(p, upTo) <= 0)
    const params = rangeParams(from, upTo)
    const clause = filterSql(track.filter, params)
    const rows = yield* h.query<{ htx: string | null; hid: string | null; tx: string | null; id: string | null }>(
      h.checker,
      `SELECT f.horizon_tx_id::text AS htx, f.horizon_id::text AS hid, c.tx, c.id
       FROM document_feed f LEFT JOIN LATERAL (
         SELECT tx_id::text AS tx, id::text AS id FROM document_changes
         WHERE (tx_id, id) > ($1::xid8, $2::bigint) AND (tx_id, id) <= ($3::xid8, $4::bigint)${clause}
         ORDER BY tx_id, id
       ) c ON true`,
      params
    )
    const horizon = positionOfRow(rows[0]?.htx, rows[0]?.hid)
    const inTable = new Set(rows.filter((r) => r.tx !== null).map((r) => `${r.tx}:${r.id}`))
    const seen = new Set(delivered.map(keyOf))
    let missed = 0
    let example = ""
    for (const row of rows) {
      const p = positionOfRow(row.tx, row.id)
      if (p === null || seen.has(keyOf(p))) continue
      if (track.excused.some(([lo, hi]) => compare(p, lo) > 0 && compare(p, hi) <= 0)) continue
      missed++
      example ||= show(p)
    }
    if (missed > 0) {
      h.violation(
        "stream-complete",
        `${track.name} (${describeFilter(track.filter)}) missed ${missed} committed changes in ${show(from)}..${show(upTo)}, e.g. ${example}`
      )
    }
    const phantoms = delivered.filter((p) => !inTable.has(keyOf(p)) && (horizon === null || compare(p, horizon) > 0))
    if (phantoms.length > 0) {
      h.violation("stream-complete", `${track.name} delivered ${phantoms.length} changes that are not in the log, e.g. ${show(phantoms[0]!)}`)
    }
    h.state.checks.add("stream-complete")
    track.checkedTo = upTo
    track.pending = track.pending.filter((p) => compare(p, upTo) > 0)
    track.excused = track.excused.filter(([, hi]) => compare(hi, upTo) > 0)
    checkStreamProgress(h, track, upTo)
  })
