/**
 * The durable consumers: several names, some stopped and restarted, one
 * name run by both runtimes at once, handlers that fail now and then. A
 * consumer whose checkpoint fell behind the prune horizon (`CursorExpired`)
 * is reset and starts again from now.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { Change } from "../../src/Change.js"
import * as DocumentChanges from "../../src/DocumentChanges.js"
import { checkBatch, checkExclusive, consumerStopped } from "../checks/consumers.js"
import { checkConsumerExpiry } from "../checks/expiry.js"
import { checkSessionEnd } from "../checks/operations.js"
import type { Runtime } from "../database.js"
import type { Harness } from "../harness.js"
import { compare, decodeCursor, type Filter, positionOfRow, zero } from "../position.js"
import { random } from "../random.js"
import type { ConsumerTrack } from "../state.js"

/** The track of consumer `name`, shared by every process that runs the name. */
export const consumerTrack = (h: Harness, name: string, filter: Filter, continuous: boolean): ConsumerTrack => {
  const track: ConsumerTrack = {
    name,
    filter,
    continuous,
    handled: new Map(),
    checkpoint: null,
    checkedTo: zero,
    inHandler: 0,
    resetting: 0,
    resets: 0,
    running: 0,
    runningSince: null
  }
  h.state.consumerTracks.push(track)
  return track
}

const handlerOf = (h: Harness, track: ConsumerTrack) => (changes: ReadonlyArray<Change>) =>
  Effect.gen(function*() {
    checkExclusive(h, track)
    track.inHandler++
    yield* Effect.sleep(Duration.millis(random(0, 3)))
    if (Math.random() < 0.03) return yield* Effect.fail({ _tag: "HandlerFailed" as const })
    checkBatch(h, track, changes)
    h.state.changesHandled += changes.length
  }).pipe(Effect.ensuring(Effect.sync(() => track.inHandler--)))

/**
 * After `CursorExpired`: the other process of the name may have reset it
 * already; else its stored checkpoint is behind the horizon, and is deleted.
 */
const reset = (h: Harness, track: ConsumerTrack, reason: string | undefined) =>
  Effect.gen(function*() {
    const [row] = yield* h.query<{ cursor: string | null; htx: string | null; hid: string | null }>(
      h.checker,
      `SELECT c.cursor, f.horizon_tx_id::text AS htx, f.horizon_id::text AS hid
       FROM document_feed f LEFT JOIN document_consumers c ON c.name = $1`,
      [track.name]
    )
    const stored = row?.cursor ? decodeCursor(row.cursor) : null
    const horizon = positionOfRow(row?.htx, row?.hid)
    if (stored === null || horizon === null || compare(stored, horizon) >= 0) return
    checkConsumerExpiry(h, track.name, stored, horizon, reason)
    // The reset: forget the checkpoint; the consumer starts again from now. The other process of the
    // name may store a checkpoint past the skipped range at once: the checks skip the name meanwhile.
    track.resetting++
    yield* h.query(h.checker, `DELETE FROM document_consumers WHERE name = $1 AND cursor = $2`, [track.name, row!.cursor]).pipe(
      Effect.ensuring(Effect.sync(() => {
        track.resetting--
        track.resets++
        track.checkpoint = null
        track.checkedTo = null
        track.handled.clear()
      }))
    )
    h.state.operations.add("consumer reset (after CursorExpired)")
  })

/** One process of consumer `track` on `run`, until the load stops; `restarting` ones stop every 3-10 s. */
export const consumer = (h: Harness, run: Runtime, track: ConsumerTrack, restarting: boolean, leaseDuration: Duration.Duration) =>
  Effect.gen(function*() {
    const pruneAgeMs = h.settings.pruneAgeMs
    const handler = handlerOf(h, track)
    let startFrom: "beginning" | "now" = "beginning"
    while (h.state.running) {
      track.running++
      if (track.running === 1) track.runningSince = Date.now()
      const exit = yield* run(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
        feed.consume(
          { name: track.name, ...track.filter, startFrom, maxBatch: 50, leaseDuration, handler } as DocumentChanges.ConsumeRequest<
            { _tag: "HandlerFailed" },
            never
          >
        ))).pipe(
          restarting ? Effect.timeoutOption(Duration.millis(random(3000, 10_000))) : Effect.asSome,
          Effect.ensuring(Effect.sync(() => {
            track.running--
            if (track.running === 0) track.runningSince = null
          })),
          Effect.exit
        )
      h.state.operations.add(restarting ? "consumer session (restarting)" : "consumer session")
      if (!h.state.running) return
      if (Exit.isSuccess(exit)) {
        yield* h.pause(Math.random() < 0.2 ? random(pruneAgeMs, 1.5 * pruneAgeMs) : random(200, 3000))
        h.state.operations.add("consumer restart")
        continue
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isNone(failure)) {
        checkSessionEnd(h.violation, `consumer ${track.name}`, exit.cause)
        return
      }
      const error = failure.value as { _tag: string; message?: string; reason?: string }
      h.state.typedErrors.add(error._tag)
      if (error._tag === "LeaseLost") {
        h.state.operations.add("consumer restart (after LeaseLost)")
        continue
      }
      if (error._tag !== "CursorExpired") {
        consumerStopped(h, track, error)
        return
      }
      h.state.cursorExpired++
      startFrom = "now"
      yield* reset(h, track, error.reason)
    }
  })
