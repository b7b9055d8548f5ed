/**
 * The checks of `consumer-at-least-once`, `checkpoint-monotonic` and
 * `consumer-exclusive`, and of `stream-order` for the batches a handler
 * gets; their definitions are in soak/soak.ts's header.
 */
import * as Effect from "effect/Effect"
import type { Change } from "../../src/Change.js"
import type { Harness } from "../harness.js"
import { compare, decodeCursor, filterSql, keyOf, matchesFilter, max, type Position, positionOfChange, rangeParams, show } from "../position.js"
import type { ConsumerTrack } from "../state.js"
import { checkConsumerProgress } from "./progress.js"

/** A handler of the name is starting: none other may be running. */
export const checkExclusive = (h: Harness, track: ConsumerTrack) => {
  if (track.inHandler > 0) h.violation("consumer-exclusive", `two handlers of ${track.name} ran at the same time`)
}

/** A batch in order and within the filter; records its changes as handled (they count once the handler succeeds). */
export const checkBatch = (h: Harness, track: ConsumerTrack, changes: ReadonlyArray<Change>) => {
  let previous: Position | null = null
  for (const change of changes) {
    const p = positionOfChange(change)
    if (previous !== null && compare(p, previous) <= 0) {
      h.violation("stream-order", `consumer ${track.name} got a batch out of order: ${show(p)} after ${show(previous)}`)
    }
    if (!matchesFilter(track.filter, change)) h.violation("stream-order", `consumer ${track.name} got ${show(p)} outside its filter`)
    previous = p
    track.handled.set(keyOf(p), p)
  }
}

/** A consumer stopped with a typed error it should not get (not `CursorExpired`, not `LeaseLost`). */
export const consumerStopped = (h: Harness, track: ConsumerTrack, error: { readonly _tag: string; readonly message?: string }) =>
  h.violation("no-defects", `consumer ${track.name} stopped with ${error._tag}: ${error.message}`)

/**
 * Every stored checkpoint against the last one seen and against what the
 * handlers got. A name whose reset (after `CursorExpired`) began or happened
 * while the check ran is skipped this round: its checkpoint may jump.
 */
export const checkConsumers = (h: Harness) =>
  Effect.gen(function*() {
    const tracks = h.state.consumerTracks
    const resetsBefore = new Map(tracks.map((track) => [track, track.resets]))
    const rows = yield* h.query<{ name: string; cursor: string }>(h.checker, `SELECT name, cursor FROM document_consumers`)
    for (const track of tracks) {
      const row = rows.find((r) => r.name === track.name)
      const resets = resetsBefore.get(track)!
      if (!row || track.resetting > 0 || track.resets !== resets) continue
      const checkpoint = decodeCursor(row.cursor)
      if (checkpoint === null) {
        h.violation("checkpoint-monotonic", `consumer ${track.name} stored a checkpoint that does not decode`)
        continue
      }
      h.state.checks.add("checkpoint-monotonic")
      if (track.checkpoint !== null && compare(checkpoint, track.checkpoint) < 0) {
        h.violation("checkpoint-monotonic", `consumer ${track.name}'s checkpoint went back from ${show(track.checkpoint)} to ${show(checkpoint)}`)
      }
      track.checkpoint = max(track.checkpoint, checkpoint)
      if (track.checkedTo === null) {
        // After a reset: start checking from the first checkpoint seen.
        track.checkedTo = checkpoint
        continue
      }
      if (compare(checkpoint, track.checkedTo) > 0) {
        const checked = yield* checkHandled(h, track, checkpoint, resets)
        if (!checked) continue
      }
      checkConsumerProgress(h, track)
    }
  })

/** The changes in (checkedTo, checkpoint] were all handled; false where a reset interfered (nothing checked). */
const checkHandled = (h: Harness, track: ConsumerTrack, checkpoint: Position, resets: number) =>
  Effect.gen(function*() {
    const params = rangeParams(track.checkedTo!, checkpoint)
    const clause = filterSql(track.filter, params)
    const changes = yield* h.query<{ tx: string; id: string }>(
      h.checker,
      `SELECT tx_id::text AS tx, id::text AS id FROM document_changes
       WHERE (tx_id, id) > ($1::xid8, $2::bigint) AND (tx_id, id) <= ($3::xid8, $4::bigint)${clause}`,
      params
    )
    if (track.resetting > 0 || track.resets !== resets) return false
    const missing = changes.filter((c) => !track.handled.has(`${c.tx}:${c.id}`))
    h.state.checks.add("consumer-at-least-once")
    if (missing.length > 0) {
      const first = missing[0]!
      h.violation(
        "consumer-at-least-once",
        `consumer ${track.name}'s checkpoint ${show(checkpoint)} passed ${missing.length} changes no handler got, e.g. (${first.tx},${first.id})`
      )
    }
    track.checkedTo = checkpoint
    for (const [key, p] of track.handled) if (compare(p, checkpoint) <= 0) track.handled.delete(key)
    return true
  })
