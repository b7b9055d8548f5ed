/**
 * The live streams: from "beginning", from "now", filtered by workspace (and
 * kind); some stopped and restarted from their last cursor after a pause,
 * sometimes longer than the prune age (they get `CursorExpired` and restart
 * from a listing). At the end each is caught up once more from its cursor
 * (`catchUp`), to settle before the final checks.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as DocumentChanges from "../../src/DocumentChanges.js"
import * as Documents from "../../src/Documents.js"
import { checkStreamExpiry } from "../checks/expiry.js"
import { checkSessionEnd } from "../checks/operations.js"
import { checkChange, checkCursor, checkCursorForward, streamFailed } from "../checks/streams.js"
import type { Runtime } from "../database.js"
import type { Harness } from "../harness.js"
import { compare, decodeCursor, type Filter, max, type Position, positionOfChange, zero } from "../position.js"
import { random } from "../random.js"
import type { StreamTrack } from "../state.js"

const sideXmin = (h: Harness) =>
  Effect.map(
    h.query<{ xmin: string }>(h.checker, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`),
    ([row]): Position => ({ txId: BigInt(row!.xmin), id: 0n })
  )

/** One event of a stream: checked, then recorded on its track. */
const onEvent = (h: Harness, track: StreamTrack, event: DocumentChanges.FeedEvent) =>
  Effect.gen(function*() {
    const position = checkCursor(h, track, event)
    if (position === null) return
    if (event._tag === "Change") {
      checkChange(h, track, event.change, position)
      const at = positionOfChange(event.change)
      track.last = at
      track.pending.push(at)
      if (track.filter.workspaceId === undefined && track.filter.kind === undefined) {
        h.state.deliveredAges.push({ position: at, changedAt: event.change.changedAt.getTime() })
      }
      track.delivered++
      h.state.changesDelivered++
    } else if (event._tag === "CaughtUp") {
      track.live = true
      track.liveSince = Date.now()
      // A stream from "now" starts somewhere at or below the horizon seen after it caught up.
      if (track.checkedTo === null) {
        const xmin = yield* sideXmin(h)
        track.checkedTo = xmin
        track.pending = track.pending.filter((p) => compare(p, xmin) > 0)
      }
    }
    checkCursorForward(h, track, event, position)
    track.known = max(track.known, position)
    track.lastCursor = event.cursor
  })

/** A cursor to restart from after `CursorExpired`: the feed's current one, or a listing's for a workspace. */
const listingCursor = (h: Harness, run: Runtime, filter: Filter) =>
  Effect.gen(function*() {
    for (;;) {
      const outcome = yield* h.guard(
        "listing after CursorExpired",
        run(Effect.gen(function*() {
          if (filter.workspaceId === undefined) return yield* Effect.flatMap(DocumentChanges.DocumentChanges, (f) => f.currentCursor)
          const page = yield* Effect.flatMap(Documents.Documents, (d) =>
            d.list({ workspaceId: filter.workspaceId!, ...(filter.kind ? { kind: filter.kind as "input" } : {}), limit: 100 }))
          return page.cursor
        }))
      )
      if (Option.isNone(outcome)) return Option.none<string>()
      if (Exit.isSuccess(outcome.value)) return Option.some(outcome.value.value)
      yield* Effect.sleep(Duration.millis(100))
    }
  })

const newTrack = (name: string, filter: Filter, from: "beginning" | "now"): StreamTrack => ({
  name,
  filter,
  checkedTo: from === "beginning" ? zero : null,
  last: null,
  known: null,
  lastCursor: null,
  pending: [],
  excused: [],
  live: false,
  liveSince: null,
  delivered: 0
})

/** A live stream on `run`, until the load stops; `restarting` ones stop every 2-8 s and resume from their cursor. */
export const liveStream = (h: Harness, run: Runtime, name: string, filter: Filter, from: "beginning" | "now", restarting: boolean) =>
  Effect.gen(function*() {
    const track = newTrack(name, filter, from)
    h.state.streamTracks.push(track)
    const pruneAgeMs = h.settings.pruneAgeMs
    let start: string = from
    while (h.state.running) {
      track.live = false
      track.liveSince = null
      const session = Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
        feed.stream({ from: start, ...filter } as DocumentChanges.StreamRequest).pipe(
          Stream.runForEach((event) => onEvent(h, track, event))
        ))
      const exit = yield* run(session).pipe(
        restarting ? Effect.timeoutOption(Duration.millis(random(2000, 8000))) : Effect.asSome,
        Effect.exit
      )
      h.state.operations.add(restarting ? "stream session (restarting)" : "stream session")
      if (!h.state.running) return
      if (Exit.isSuccess(exit)) {
        // Stopped on purpose; resume from the last cursor after a pause, now and then longer than the prune age.
        start = track.lastCursor ?? start
        yield* h.pause(Math.random() < 0.25 ? random(pruneAgeMs, 1.5 * pruneAgeMs) : random(100, 1500))
        h.state.operations.add("stream restart from its cursor")
        continue
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isNone(failure)) {
        checkSessionEnd(h.violation, name, exit.cause)
        return
      }
      const error = failure.value
      h.state.typedErrors.add(error._tag)
      if (error._tag !== "CursorExpired") {
        streamFailed(h, `${name}: the stream failed with ${error._tag}: ${error.message}`)
        return
      }
      h.state.cursorExpired++
      checkStreamExpiry(h, track, error.reason)
      const listed = yield* listingCursor(h, run, filter)
      if (Option.isNone(listed)) return
      const restartAt = decodeCursor(listed.value)!
      track.excused.push([track.known ?? track.checkedTo ?? zero, restartAt])
      start = listed.value
      h.state.operations.add("stream restart from a listing (after CursorExpired)")
    }
  })

/** After the load: one more session of the stream from its last cursor, until it reaches `target`. */
export const catchUp = (h: Harness, track: StreamTrack, target: Position) =>
  Effect.gen(function*() {
    if (track.lastCursor === null) return
    const settle = Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
      feed.stream({ from: track.lastCursor!, ...track.filter } as DocumentChanges.StreamRequest).pipe(
        Stream.tap((event) => onEvent(h, track, event)),
        Stream.takeUntil((event) => event._tag !== "Change" && track.known !== null && compare(track.known, target) >= 0),
        Stream.runDrain
      ))
    const outcome = yield* h.guard(`final catch-up of ${track.name}`, h.inA(settle))
    if (Option.isSome(outcome) && Exit.isFailure(outcome.value)) {
      const error = Cause.squash(outcome.value.cause) as { _tag?: string }
      if (error._tag === "CursorExpired") h.state.cursorExpired++
      else streamFailed(h, `final catch-up of ${track.name} failed with ${error._tag}`)
    }
  })
