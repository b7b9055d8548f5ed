/**
 * One subscriber's stream: catch-up from its start in batches of its own,
 * `CaughtUp`, then live from the shared tail, heartbeats while idle.
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { Change } from "../../Change.js"
import type { CursorExpired, FeedDiverged, InvalidCursor, InvalidInput } from "../../Errors.js"
import { FeedEvent } from "../../FeedEvent.js"
import * as FeedMetrics from "../../FeedMetrics.js"
import * as Cursor from "../cursor.js"
import { changeEvents } from "./events.js"
import type { Guard } from "./guard.js"
import {
  expired,
  type Filter,
  matches,
  persistently,
  positionOf,
  read,
  type Reader,
  resolveStart,
  stallNow,
  workspaceRequired
} from "./reader.js"
import type { Tail, TailBatch } from "./tail.js"

export interface SubscriberOptions {
  readonly isolated: boolean
  readonly heartbeatInterval: Duration.Duration
  /** The feed guard: a diverged feed (a logical restore) fails the stream instead of mis-ordering it. */
  readonly guard: Guard
}

/** Where one subscriber is, between pulls. */
interface State {
  /** Every change of ours at or before it has been delivered. */
  position: Cursor.Position
  /** Caught up: following the tail. */
  live: boolean
  /** Under isolation: the last read of our workspace was a full batch, read on without waiting. */
  behind: boolean
  /** When the last event went out: a heartbeat follows `heartbeatInterval` after it. */
  lastSignal: number
  /** A tail batch waiting while we read the gap before it ourselves. */
  pending: TailBatch | undefined
}

export const stream = (reader: Reader, tail: Tail, options: SubscriberOptions) =>
(
  request: { readonly from: string } & Filter
): Stream.Stream<FeedEvent, InvalidInput | InvalidCursor | CursorExpired | FeedDiverged> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    if (options.isolated && request.workspaceId === undefined) return yield* workspaceRequired()
    const filter: Filter = { workspaceId: request.workspaceId, kind: request.kind }
    const start = yield* resolveStart(reader)(request.from)
    // The feed guard first (FeedDiverged), then a resumed cursor must not lie past the server's counter.
    yield* persistently(options.guard.guard)
    if (request.from !== "beginning" && request.from !== "now") yield* persistently(options.guard.admit(start))
    const subscription = yield* tail.subscribe
    const epoch = start.epoch
    const state: State = { position: start, live: false, behind: false, lastSignal: Date.now(), pending: undefined }
    const encode = Cursor.encoder(epoch)
    const cursor = () => encode(state.position)
    const changeEvent = changeEvents(encode)
    const wanted = matches(filter)

    const deliver = (changes: ReadonlyArray<Change>): Array<FeedEvent> => {
      const events: Array<FeedEvent> = []
      let last: Change | undefined
      for (const change of changes) {
        if (Cursor.compare(change, last ?? state.position) <= 0) continue
        last = change
        if (wanted(change)) events.push(changeEvent(change))
      }
      if (last !== undefined) state.position = positionOf(last)
      return events
    }

    // Reads (position, until] (or to the horizon) in batches; `exhausted` when the last batch was short.
    const readOwn = (until?: Cursor.Position) =>
      Effect.gen(function*() {
        const result = yield* persistently(read(reader)(state.position, filter, reader.batchSize, until))
        const problem = expired({ epoch, ...state.position }, result)
        if (Option.isSome(problem)) return yield* problem.value
        const events = deliver(result.changes)
        const exhausted = result.changes.length < reader.batchSize
        // Everything of ours below the horizon has been delivered: move up to it, so a filtered
        // stream does not read the gap again when the shared tail's next batch arrives.
        const horizon = { txId: result.xmin, id: 0n }
        if (exhausted && until === undefined && Cursor.compare(horizon, state.position) > 0) state.position = horizon
        return { events, exhausted }
      })

    const catchUp = Effect.gen(function*() {
      const { events, exhausted } = yield* readOwn()
      if (!exhausted) return events
      state.live = true
      state.lastSignal = Date.now()
      return [...events, FeedEvent.CaughtUp({ cursor: cursor(), stall: yield* stallNow(reader) })]
    })

    // Under isolation: our own workspace, up to the horizon, one batch at a time.
    const followOwn = Effect.gen(function*() {
      const { events, exhausted } = yield* readOwn()
      state.behind = !exhausted
      if (events.length > 0) state.lastSignal = Date.now()
      return events
    })

    // A gap between where we are and where a tail batch starts (we joined late, or dropped
    // batches while slow): read it ourselves first, one batch per pull, so that memory does
    // not grow with the gap; the tail batch waits in `pending` meanwhile.
    const deliverBatch = (batch: TailBatch) =>
      Effect.gen(function*() {
        state.pending = undefined
        const events: Array<FeedEvent> = []
        if (Cursor.compare(batch.from, state.position) > 0) {
          const own = yield* readOwn(batch.from)
          events.push(...own.events)
          if (!own.exhausted) state.pending = batch
        }
        if (state.pending === undefined) events.push(...deliver(batch.changes))
        if (events.length > 0) state.lastSignal = Date.now()
        return events
      })

    const follow = Effect.gen(function*() {
      if (state.behind) return yield* followOwn
      if (state.pending !== undefined) return yield* deliverBatch(state.pending)
      const idle = Date.now() - state.lastSignal
      const wait = Duration.millis(Math.max(0, Duration.toMillis(options.heartbeatInterval) - idle))
      const next = yield* Queue.take(subscription).pipe(Effect.timeout(wait), Effect.option)
      if (Option.isNone(next)) {
        state.lastSignal = Date.now()
        return [FeedEvent.Heartbeat({ cursor: cursor(), stall: yield* tail.stall })]
      }
      if (options.isolated) {
        yield* Queue.takeAll(subscription) // ticks that queued up meanwhile: one read covers them
        return yield* followOwn
      }
      const batch = next.value
      const problem = expired({ epoch, ...state.position }, batch)
      if (Option.isSome(problem)) return yield* problem.value
      if (Cursor.compare(batch.to, state.position) <= 0) return []
      return yield* deliverBatch(batch)
    })

    // Each pull first asks the feed guard (cached: a clock read); a diverged feed fails the stream.
    return Stream.repeatEffectChunk(
      Effect.zipRight(persistently(options.guard.guard), Effect.suspend(() => state.live ? follow : catchUp)).pipe(
        Effect.tap(FeedMetrics.delivered),
        Effect.map(Chunk.unsafeFromArray)
      )
    )
  }))
