/**
 * The shared live tail: one poller per service, whatever the number of live
 * subscribers. It reads every change below the horizon as it appears and
 * publishes it in batches; each subscriber filters what it wants. It polls
 * only while someone subscribes, and reads at once on a wake-up.
 *
 * Under tenant isolation no statement may read across workspaces: the tail
 * publishes only a tick ("something may have changed"), and each subscriber
 * reads its own workspace.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type { Change } from "../../Change.js"
import type { Stall } from "../../FeedEvent.js"
import type * as Cursor from "../cursor.js"
import { feedState, horizonOf, persistently, positionOf, read, type Reader, stallNow } from "./reader.js"

/** A batch of the tail: every change in (from, to] below the horizon. */
export interface TailBatch {
  readonly epoch: string
  readonly horizon: Cursor.Position | null
  readonly from: Cursor.Position
  readonly to: Cursor.Position
  readonly changes: ReadonlyArray<Change>
}

export interface Tail {
  /** A subscription to the tail's batches, for as long as the scope lasts (a sliding buffer). */
  readonly subscribe: Effect.Effect<Queue.Dequeue<TailBatch>, never, Scope.Scope>
  /** The stall the tail saw at its last check. */
  readonly stall: Effect.Effect<Stall | null>
}

export interface TailOptions {
  readonly isolated: boolean
  readonly pollInterval: Duration.Duration
  /** How often the tail looks up the oldest open transaction. */
  readonly stallCheckInterval: Duration.Duration
  /** Batches kept per subscriber before the oldest are dropped (and re-read by the subscriber). */
  readonly subscriberBuffer: number
}

/** The tail, running in the scope; `wake` makes it read now. */
export const make = (reader: Reader, options: TailOptions): Effect.Effect<Tail & { readonly wake: () => void }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const tail = yield* PubSub.sliding<TailBatch>(options.subscriberBuffer)
    const subscribers = yield* Ref.make(0)
    const wakeups = yield* Queue.sliding<void>(1)
    const stall = yield* Ref.make<Stall | null>(null)
    const tick: TailBatch = { epoch: "", horizon: null, from: { txId: 0n, id: 0n }, to: { txId: 0n, id: 0n }, changes: [] }
    const nextWake = Queue.take(wakeups).pipe(Effect.timeout(options.pollInterval), Effect.ignore)

    let lastStallCheck = 0
    const checkStall = Effect.suspend(() => {
      if (Date.now() - lastStallCheck < Duration.toMillis(options.stallCheckInterval)) return Effect.void
      lastStallCheck = Date.now()
      return Effect.flatMap(stallNow(reader), (found) => Ref.set(stall, found))
    })

    const loop = Effect.gen(function*() {
      let position: Cursor.Position | null = null
      for (;;) {
        if ((yield* Ref.get(subscribers)) === 0) {
          position = null
          yield* nextWake
          continue
        }
        if (options.isolated) {
          yield* PubSub.publish(tail, tick)
          yield* checkStall
          yield* nextWake
          continue
        }
        if (position === null) {
          const state = yield* persistently(feedState(reader))
          position = { txId: BigInt(state.xmin), id: 0n }
          // Where the tail starts. A subscriber whose catch-up ended below this point (a change
          // committed in between) reads that gap itself on this batch, instead of at the next change.
          const horizon = horizonOf(state.horizonTxId, state.horizonId)
          yield* PubSub.publish(tail, { epoch: state.epoch, horizon, from: position, to: position, changes: [] })
        }
        const from: Cursor.Position = position
        const result = yield* persistently(read(reader)(from, {}, reader.batchSize))
        if (result.changes.length > 0) {
          position = positionOf(result.changes[result.changes.length - 1]!)
          yield* PubSub.publish(tail, { epoch: result.epoch, horizon: result.horizon, from, to: position, changes: result.changes })
        }
        yield* checkStall
        if (result.changes.length < reader.batchSize) yield* nextWake
      }
    })
    yield* Effect.forkScoped(loop)

    const subscribe = Effect.acquireRelease(
      Effect.zipLeft(
        PubSub.subscribe(tail),
        Ref.update(subscribers, (n) => n + 1).pipe(Effect.zipRight(Queue.offer(wakeups, undefined)))
      ),
      () => Ref.update(subscribers, (n) => n - 1)
    )
    return { subscribe, stall: Ref.get(stall), wake: () => Queue.unsafeOffer(wakeups, undefined) }
  })
