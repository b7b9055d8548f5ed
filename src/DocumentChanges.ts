/**
 * The change feed: `document_changes` read as a gap-free, resumable Stream.
 *
 * Reading order is (tx_id, id), and only below the horizon
 * `pg_snapshot_xmin(pg_current_snapshot())`: every transaction below it has
 * finished, so a row whose transaction commits late is never skipped (reading
 * `id > cursor` would skip it). See docs/change-feed.md.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqlError } from "@effect/sql/SqlError"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Change } from "./Change.js"
import { Kind } from "./Document.js"
import { CursorExpired, DatabaseError, FeedDiverged, InvalidCursor, InvalidInput } from "./Errors.js"
import { WorkspaceId } from "./Ids.js"
import * as ChangeRow from "./internal/changeRow.js"
import * as Cursor from "./internal/cursor.js"
import * as FeedGuard from "./internal/feed/guard.js"
import * as FeedMetrics from "./FeedMetrics.js"
import { databaseError, pgCode } from "./internal/sqlError.js"
import { decodeInput } from "./internal/validation.js"
import * as Wakeup from "./internal/wakeup.js"
import * as TenantIsolation from "./TenantIsolation.js"

// ---------------------------------------------------------------------------
// Stream elements
// ---------------------------------------------------------------------------

/**
 * A transaction that holds the horizon back: changes committed after it
 * started wait until it ends.
 *
 * @since 0.1.0
 */
export interface Stall {
  readonly pid: number
  readonly applicationName: string
  readonly ageSeconds: number
}

/**
 * What the stream yields. Only `Change` is a change; `CaughtUp` (once, when
 * the history has been read) and `Heartbeat` (while idle) are signals, and
 * carry the stall that delays delivery, if any.
 *
 * @since 0.1.0
 */
export type FeedEvent = Data.TaggedEnum<{
  Change: { readonly change: Change; readonly cursor: string }
  CaughtUp: { readonly cursor: string; readonly stall: Stall | null }
  Heartbeat: { readonly cursor: string; readonly stall: Stall | null }
}>

/**
 * @since 0.1.0
 */
export const FeedEvent = Data.taggedEnum<FeedEvent>()

/**
 * `FeedEvent.Change({ change, cursor })` whose cursor is encoded when first
 * read: encoding one per change cost more than building the change, and most
 * consumers store one cursor per batch (`consume` does). The event is the same
 * object: `cursor` is an own enumerable property (an accessor until read, a
 * plain property after), so spreading, `Equal` and JSON see it as before.
 */
const changeEvents = (encode: (position: Cursor.Position) => string): (change: Change) => FeedEvent => {
  const cursor: PropertyDescriptor = {
    get(this: { readonly change: Change }) {
      const value = encode(this.change)
      // Not on a frozen event: that one encodes at each read.
      Reflect.defineProperty(this, "cursor", { value, writable: true, enumerable: true, configurable: true })
      return value
    },
    enumerable: true,
    configurable: true
  }
  // The properties in FeedEvent.Change's order, on its prototype.
  function ChangeEvent(this: { change: Change; _tag: "Change" }, change: Change) {
    this.change = change
    Object.defineProperty(this, "cursor", cursor)
    this._tag = "Change"
  }
  ChangeEvent.prototype = Object.getPrototypeOf(FeedEvent.Change({ change: undefined as never, cursor: "" }))
  const make = ChangeEvent as unknown as new(change: Change) => FeedEvent
  return (change) => new make(change)
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/**
 * Tuning knobs of the service (docs/change-feed.md, "Tuning").
 *
 * @since 0.1.0
 */
export interface Options {
  /** How often the shared live tail polls when no wake-up arrives. Default 100 ms. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Rows per read, for catch-up and the live tail. Default 1000. */
  readonly batchSize?: number | undefined
  /** An idle live stream yields a Heartbeat this often. Default 5 s. */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
  /** A transaction open longer than this is reported as a stall. Default 5 s. */
  readonly stallThreshold?: Duration.DurationInput | undefined
  /** LISTEN for the wake-ups sent after the library's own commits. Default true. */
  readonly wakeups?: boolean | undefined
  /** Batches kept per live subscriber before the oldest are dropped (and re-read). Default 64. */
  readonly subscriberBuffer?: number | undefined
}

/**
 * Where a stream starts: `"beginning"`, `"now"`, or a cursor it resumes after.
 *
 * @since 0.1.0
 */
export const StreamRequest = Schema.Struct({
  from: Schema.String,
  workspaceId: Schema.optional(WorkspaceId),
  kind: Schema.optional(Kind)
})

/**
 * @since 0.1.0
 */
export type StreamRequest = typeof StreamRequest.Encoded

/**
 * @since 0.1.0
 */
export const PruneRequest = Schema.Struct({
  olderThan: Schema.DurationFromSelf.pipe(
    Schema.filter((age) => Duration.greaterThanOrEqualTo(age, Duration.zero) || "must not be negative")
  )
})

/**
 * @since 0.1.0
 */
export interface Pruned {
  readonly deleted: number
  /** The new retention horizon as a cursor position; `null` when nothing was old enough. */
  readonly horizon: string | null
}

/**
 * A named consumer that processes the feed in batches and keeps its checkpoint in the database.
 *
 * @since 0.1.0
 */
export interface ConsumeRequest<E, R> {
  readonly name: string
  readonly handler: (changes: ReadonlyArray<Change>) => Effect.Effect<void, E, R>
  /** Where a consumer that has no checkpoint yet starts. Default "beginning". */
  readonly startFrom?: "beginning" | "now" | undefined
  readonly workspaceId?: string | undefined
  readonly kind?: Kind | undefined
  /** Most changes per handler call. Default 100. */
  readonly maxBatch?: number | undefined
  /** How long a lease lasts without renewal. Default 10 s. */
  readonly leaseDuration?: Duration.DurationInput | undefined
}

/**
 * The consumer's lease was taken over (it was not renewed in time); this
 * process stops without advancing the checkpoint.
 *
 * @since 0.1.0
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  consumer: Schema.String,
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export class DocumentChanges extends Context.Tag("effect-docstore/DocumentChanges")<DocumentChanges, {
  /**
   * Changes after the starting point, in (tx_id, id) order, none twice;
   * history first, then `CaughtUp`, then live changes as they commit, for as
   * long as the stream is consumed. Database failures are retried with
   * backoff, resuming after the last delivered change.
   */
  readonly stream: (request: StreamRequest) => Stream.Stream<FeedEvent, InvalidInput | InvalidCursor | CursorExpired | FeedDiverged>
  /** The cursor of "now": streaming from it yields what commits from here on. */
  readonly currentCursor: Effect.Effect<string, DatabaseError>
  /** Deletes changes older than the given age and records the retention horizon. */
  readonly prune: (request: { readonly olderThan: Duration.DurationInput }) => Effect.Effect<Pruned, InvalidInput | DatabaseError>
  /**
   * Runs a durable consumer until interrupted: at-least-once delivery, the
   * checkpoint advanced only after the handler succeeded. A failing handler
   * is retried from the last checkpoint. While another process holds the
   * consumer's lease, this one waits.
   */
  readonly consume: <E, R>(
    request: ConsumeRequest<E, R>
  ) => Effect.Effect<never, InvalidInput | InvalidCursor | CursorExpired | FeedDiverged | LeaseLost | DatabaseError, R>
}>() {}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

interface Filter {
  readonly workspaceId?: string | undefined
  readonly kind?: string | undefined
}

interface Read {
  readonly epoch: string
  readonly horizon: Cursor.Position | null
  /** Every transaction below it had finished when the batch was read. */
  readonly xmin: bigint
  readonly changes: ReadonlyArray<Change>
}

/** A batch of the shared live tail: every change in (from, to] below the horizon. */
interface TailBatch {
  readonly epoch: string
  readonly horizon: Cursor.Position | null
  readonly from: Cursor.Position
  readonly to: Cursor.Position
  readonly changes: ReadonlyArray<Change>
}

/** The row of a read that is not a change (its first column is NULL): the feed's state in the read's snapshot. */
type FeedRow = readonly [
  null, null, null, null, null, null, null, null,
  epoch: string,
  /** xid8 as text. */
  horizonTxId: string | null,
  horizonId: bigint | null,
  /** `pg_snapshot_xmin` of the read's snapshot, as text. */
  xmin: string
]

const positionOf = (change: Change): Cursor.Position => ({ txId: change.txId, id: change.id })

/** The retention horizon as document_feed stores it (xid8 as text), if prune has set one. */
const horizonOf = (txId: string | null, id: bigint | null): Cursor.Position | null =>
  txId === null ? null : { txId: BigInt(txId), id: id! }

const matches = (filter: Filter) => (change: Change) =>
  (filter.workspaceId === undefined || change.workspaceId === filter.workspaceId) &&
  (filter.kind === undefined || change.kind === filter.kind)

const retrySchedule = Schedule.exponential(Duration.millis(50), 2).pipe(
  Schedule.either(Schedule.spaced(Duration.seconds(5))),
  Schedule.jittered
)

/** Retries database failures forever, with backoff: a restarted server is waited for. */
const persistently = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, Exclude<E, SqlError>> =>
  Effect.retry(effect, retrySchedule.pipe(Schedule.whileInput((error: E) => error instanceof SqlError))) as Effect.Effect<
    A,
    Exclude<E, SqlError>
  >

// A read-only server (a standby) cannot take a consumer's checkpoints: waiting for it would never end.
// Marked, so that `consume` stops on this error and not on a handler's own DatabaseError.
const readOnlyServer = new WeakSet<DatabaseError>()
const onPrimary = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | DatabaseError, R> =>
  Effect.catchIf(
    effect,
    (error) => error instanceof SqlError && pgCode(error).code === "25006",
    () => {
      const error = new DatabaseError({
        message: "durable consumers store their checkpoints, and this server is read-only (a standby?): " +
          "run consumers against the primary"
      })
      readOnlyServer.add(error)
      return Effect.fail(error)
    }
  )

const workspaceRequired = () =>
  new InvalidInput({ field: "workspaceId", message: "is required under tenant isolation: a stream reads one workspace" })

/**
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<
  Context.Tag.Service<DocumentChanges>,
  never,
  SqlClient.SqlClient | PgClient.PgClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const pg = yield* PgClient.PgClient
    // Under tenant isolation no statement may read across workspaces: each live stream reads its
    // own workspace (with the workspace set) when the tail wakes it, instead of sharing the tail's reads.
    const isolated = (yield* TenantIsolation.TenantIsolation).enabled
    const isolation = TenantIsolation.scoping(sql, isolated)
    const guard = FeedGuard.of(sql)
    const admit = FeedGuard.admit(sql)
    const pollInterval = Duration.decode(options.pollInterval ?? Duration.millis(100))
    const batchSize = options.batchSize ?? 1000
    const heartbeatInterval = Duration.decode(options.heartbeatInterval ?? Duration.seconds(5))
    const stallThreshold = Duration.toSeconds(options.stallThreshold ?? Duration.seconds(5))

    const read = (after: Cursor.Position, filter: Filter, limit: number, until?: Cursor.Position) =>
      Effect.gen(function*() {
        // One statement, one snapshot: the feed row, the horizon and the changes agree (both xmins are the
        // statement snapshot's). The feed row comes once, not repeated on every change: that cost the server
        // and the client as much as the change itself. No ORDER BY around the UNION: sorting the batch again
        // cost the server a third of the read; the LIMIT's ORDER BY picks the batch, and its order is
        // checked below. The columns of a change: see ChangeRow.Row. Under isolation, without a workspace
        // the policies let nothing through.
        const rows = yield* isolation.scoped(filter.workspaceId ?? "")(sql`
          SELECT NULL::int8, NULL::xid8, NULL::uuid, NULL::uuid, NULL::text, NULL::text, NULL::int, NULL::numeric,
                 f.epoch, f.horizon_tx_id::text, f.horizon_id, h.xmin::text
          FROM document_feed f
          CROSS JOIN LATERAL (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) h
          UNION ALL (
            SELECT c.id, c.tx_id, c.workspace_id, c.document_id, c.kind, c.op, c.version_no,
                   floor(extract(epoch FROM c.changed_at) * 1000), NULL, NULL, NULL, NULL
            FROM document_changes c
            WHERE (c.tx_id, c.id) > (${String(after.txId)}::xid8, ${after.id})
              AND c.tx_id < pg_snapshot_xmin(pg_current_snapshot())
              ${filter.workspaceId === undefined ? sql`` : sql`AND c.workspace_id = ${filter.workspaceId}`}
              ${filter.kind === undefined ? sql`` : sql`AND c.kind = ${filter.kind}`}
              ${until === undefined ? sql`` : sql`AND (c.tx_id, c.id) <= (${String(until.txId)}::xid8, ${until.id})`}
            ORDER BY c.tx_id, c.id
            LIMIT ${limit}
          )`.values)
        let feed: FeedRow | undefined
        const changes: Array<Change> = []
        let ordered = true
        for (const row of rows) {
          if (row[0] === null) {
            feed = row as unknown as FeedRow
            continue
          }
          const change = ChangeRow.fromRow(row as unknown as ChangeRow.Row)
          if (changes.length > 0 && Cursor.compare(changes[changes.length - 1]!, change) >= 0) ordered = false
          changes.push(change)
        }
        // PostgreSQL returns a UNION ALL's parts in order; were that ever not so, the batch is still the right one.
        if (!ordered) changes.sort(Cursor.compare)
        const [, , , , , , , , epoch, horizonTxId, horizonId, xmin] = feed!
        return {
          epoch,
          horizon: horizonOf(horizonTxId, horizonId),
          xmin: BigInt(xmin),
          changes
        } satisfies Read
      })

    const feedState = sql<{ epoch: string; horizonTxId: string | null; horizonId: bigint | null; xmin: string }>`
      SELECT epoch, horizon_tx_id::text AS horizon_tx_id, horizon_id,
             pg_snapshot_xmin(pg_current_snapshot())::text AS xmin
      FROM document_feed`.pipe(Effect.map(([row]) => row!))

    const stallNow = sql<{ pid: number; applicationName: string; ageSeconds: number }>`
      SELECT pid, application_name, extract(epoch FROM now() - xact_start)::float8 AS age_seconds
      FROM pg_stat_activity
      WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
      ORDER BY xact_start LIMIT 1`.pipe(
      Effect.map(([row]) => row && row.ageSeconds >= stallThreshold ? row as Stall : null),
      Effect.orElseSucceed(() => null)
    )

    const expired = (cursor: Cursor.Cursor, state: { readonly epoch: string; readonly horizon: Cursor.Position | null }) => {
      if (state.epoch !== cursor.epoch) {
        return Option.some(new CursorExpired({
          reason: "epoch",
          message: "the cursor belongs to another feed epoch (the feed was recreated or the database restored); " +
            "refetch: list the documents, then stream from the listing's cursor"
        }))
      }
      if (state.horizon !== null && Cursor.compare(cursor, state.horizon) < 0) {
        return Option.some(new CursorExpired({
          reason: "retention",
          message: "the changes after this cursor were pruned by retention; " +
            "refetch: list the documents, then stream from the listing's cursor"
        }))
      }
      return Option.none()
    }

    // ---- the shared live tail ----------------------------------------------
    const tail = yield* PubSub.sliding<TailBatch>(options.subscriberBuffer ?? 64)
    const subscribers = yield* Ref.make(0)
    const wakeups = yield* Queue.sliding<void>(1)
    const tailStall = yield* Ref.make<Stall | null>(null)
    // Under isolation the tail publishes only this: "something may have changed, read your workspace".
    const tick: TailBatch = { epoch: "", horizon: null, from: { txId: 0n, id: 0n }, to: { txId: 0n, id: 0n }, changes: [] }

    if (options.wakeups ?? true) yield* Wakeup.listen(pg.config, () => Queue.unsafeOffer(wakeups, undefined))

    // The oldest open transaction, looked up once per heartbeat interval while the tail runs.
    let lastStallCheck = 0
    const checkStall = Effect.suspend(() => {
      if (Date.now() - lastStallCheck < Duration.toMillis(heartbeatInterval)) return Effect.void
      lastStallCheck = Date.now()
      return Effect.flatMap(stallNow, (stall) => Ref.set(tailStall, stall))
    })

    const tailLoop = Effect.gen(function*() {
      let position: Cursor.Position | null = null
      for (;;) {
        if ((yield* Ref.get(subscribers)) === 0) {
          position = null
          yield* Queue.take(wakeups).pipe(Effect.timeout(pollInterval), Effect.ignore)
          continue
        }
        if (isolated) {
          yield* PubSub.publish(tail, tick)
          yield* checkStall
          yield* Queue.take(wakeups).pipe(Effect.timeout(pollInterval), Effect.ignore)
          continue
        }
        if (position === null) {
          const state = yield* persistently(feedState)
          position = { txId: BigInt(state.xmin), id: 0n }
          // Where the tail starts. A subscriber whose catch-up ended below this point (a change
          // committed in between) reads that gap itself on this batch, instead of at the next change.
          const horizon = horizonOf(state.horizonTxId, state.horizonId)
          yield* PubSub.publish(tail, { epoch: state.epoch, horizon, from: position, to: position, changes: [] })
        }
        const from: Cursor.Position = position
        const result = yield* persistently(read(from, {}, batchSize))
        if (result.changes.length > 0) {
          position = positionOf(result.changes[result.changes.length - 1]!)
          yield* PubSub.publish(tail, { epoch: result.epoch, horizon: result.horizon, from, to: position, changes: result.changes })
        }
        yield* checkStall
        if (result.changes.length < batchSize) {
          yield* Queue.take(wakeups).pipe(Effect.timeout(pollInterval), Effect.ignore)
        }
      }
    })
    yield* Effect.forkScoped(tailLoop)

    const subscribe = Effect.acquireRelease(
      Effect.zipLeft(
        PubSub.subscribe(tail),
        Ref.update(subscribers, (n) => n + 1).pipe(Effect.zipRight(Queue.offer(wakeups, undefined)))
      ),
      () => Ref.update(subscribers, (n) => n - 1)
    )

    // ---- one subscriber's stream ----------------------------------------------
    const resolveStart = (from: string) =>
      Effect.gen(function*() {
        if (from === "beginning" || from === "now") {
          const state = yield* persistently(feedState)
          const horizon = horizonOf(state.horizonTxId, state.horizonId)
          const position = from === "now" ? { txId: BigInt(state.xmin), id: 0n } : horizon ?? { txId: 0n, id: 0n }
          return { epoch: state.epoch, ...position } satisfies Cursor.Cursor
        }
        return yield* Either.mapLeft(Cursor.decode(from), (why) => new InvalidCursor({ message: `the cursor ${why}` }))
      })

    const stream = (input: StreamRequest): Stream.Stream<FeedEvent, InvalidInput | InvalidCursor | CursorExpired | FeedDiverged> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const request = yield* decodeInput(StreamRequest)(input)
        if (isolated && request.workspaceId === undefined) return yield* workspaceRequired()
        const filter: Filter = { workspaceId: request.workspaceId, kind: request.kind }
        const start = yield* resolveStart(request.from)
        // The feed guard first (FeedDiverged), then a resumed cursor must not lie past the server's counter.
        yield* persistently(guard)
        if (request.from !== "beginning" && request.from !== "now") yield* persistently(admit(start))
        const subscription = yield* subscribe
        const epoch = start.epoch
        let position: Cursor.Position = start
        let live = false
        // Under isolation: the last read of our workspace was a full batch, read on without waiting.
        let behind = false
        let lastSignal = Date.now()
        const encode = Cursor.encoder(epoch)
        const cursor = () => encode(position)
        const changeEvent = changeEvents(encode)
        const wanted = matches(filter)

        const deliver = (changes: ReadonlyArray<Change>): Array<FeedEvent> => {
          const events: Array<FeedEvent> = []
          let last: Change | undefined
          for (const change of changes) {
            if (Cursor.compare(change, last ?? position) <= 0) continue
            last = change
            if (wanted(change)) events.push(changeEvent(change))
          }
          if (last !== undefined) position = positionOf(last)
          return events
        }

        // Reads (position, until] (or to the horizon) in batches; `true` when the last batch was short.
        const readOwn = (until?: Cursor.Position) =>
          Effect.gen(function*() {
            const result = yield* persistently(read(position, filter, batchSize, until))
            const problem = expired({ epoch, ...position }, result)
            if (Option.isSome(problem)) return yield* problem.value
            const events = deliver(result.changes)
            const exhausted = result.changes.length < batchSize
            // Everything of ours below the horizon has been delivered: move up to it, so a filtered
            // stream does not read the gap again when the shared tail's next batch arrives.
            const horizon = { txId: result.xmin, id: 0n }
            if (exhausted && until === undefined && Cursor.compare(horizon, position) > 0) position = horizon
            return { events, exhausted }
          })

        const catchUp = Effect.gen(function*() {
          const { events, exhausted } = yield* readOwn()
          if (!exhausted) return events
          live = true
          lastSignal = Date.now()
          return [...events, FeedEvent.CaughtUp({ cursor: cursor(), stall: yield* stallNow })]
        })

        // Under isolation: our own workspace, up to the horizon, one batch at a time.
        const followOwn = Effect.gen(function*() {
          const { events, exhausted } = yield* readOwn()
          behind = !exhausted
          if (events.length > 0) lastSignal = Date.now()
          return events
        })

        // A gap between where we are and where a tail batch starts (we joined late, or dropped
        // batches while slow): read it ourselves first, one batch per pull, so that memory does
        // not grow with the gap; the tail batch waits in `pending` meanwhile.
        let pending: TailBatch | undefined
        const deliverBatch = (batch: TailBatch) =>
          Effect.gen(function*() {
            pending = undefined
            const events: Array<FeedEvent> = []
            if (Cursor.compare(batch.from, position) > 0) {
              const own = yield* readOwn(batch.from)
              events.push(...own.events)
              if (!own.exhausted) pending = batch
            }
            if (pending === undefined) events.push(...deliver(batch.changes))
            if (events.length > 0) lastSignal = Date.now()
            return events
          })

        const follow = Effect.gen(function*() {
          if (behind) return yield* followOwn
          if (pending !== undefined) return yield* deliverBatch(pending)
          const wait = Duration.millis(Math.max(0, Duration.toMillis(heartbeatInterval) - (Date.now() - lastSignal)))
          const next = yield* Queue.take(subscription).pipe(Effect.timeout(wait), Effect.option)
          if (Option.isNone(next)) {
            lastSignal = Date.now()
            return [FeedEvent.Heartbeat({ cursor: cursor(), stall: yield* Ref.get(tailStall) })]
          }
          if (isolated) {
            yield* Queue.takeAll(subscription) // ticks that queued up meanwhile: one read covers them
            return yield* followOwn
          }
          const batch = next.value
          const problem = expired({ epoch, ...position }, batch)
          if (Option.isSome(problem)) return yield* problem.value
          if (Cursor.compare(batch.to, position) <= 0) return []
          return yield* deliverBatch(batch)
        })

        // Each pull first asks the feed guard (cached: a clock read); a diverged feed fails the stream.
        return Stream.repeatEffectChunk(
          Effect.zipRight(persistently(guard), Effect.suspend(() => live ? follow : catchUp)).pipe(
            Effect.tap(FeedMetrics.delivered),
            Effect.map(Chunk.unsafeFromArray)
          )
        )
      }))

    const currentCursor = Effect.mapError(
      Effect.map(feedState, (state) => Cursor.encode({ epoch: state.epoch, txId: BigInt(state.xmin), id: 0n })),
      databaseError
    )

    const prune = (input: { readonly olderThan: Duration.DurationInput }) =>
      Effect.gen(function*() {
        const olderThan = yield* Effect.try({
          try: () => Duration.decode(input.olderThan),
          catch: () => new InvalidInput({ field: "olderThan", message: "must be a duration such as '7 days'" })
        })
        const { olderThan: age } = yield* decodeInput(PruneRequest)({ olderThan })
        const seconds = Duration.toMillis(age) / 1000
        // Everything before the first change (in feed order) that is too young or not yet below the
        // horizon goes, so the horizon is exact. Not "everything up to the newest old change": a transaction
        // that began long ago but wrote just now has old changes at a new position, and would take the
        // young changes below it along.
        const [row] = yield* sql<{ deleted: bigint; epoch: string; horizonTxId: string | null; horizonId: bigint | null }>`
          WITH young AS (
            SELECT tx_id, id FROM document_changes
            WHERE changed_at >= now() - make_interval(secs => ${seconds})
               OR tx_id >= pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY tx_id, id LIMIT 1
          ), cutoff AS (
            SELECT tx_id, id FROM document_changes
            WHERE (tx_id, id) < (coalesce((SELECT tx_id FROM young), pg_snapshot_xmin(pg_current_snapshot())),
                                 coalesce((SELECT id FROM young), 0))
            ORDER BY tx_id DESC, id DESC LIMIT 1
          ), deleted AS (
            DELETE FROM document_changes c USING cutoff
            WHERE (c.tx_id, c.id) <= (cutoff.tx_id, cutoff.id)
            RETURNING 1
          ), horizon AS (
            UPDATE document_feed f SET horizon_tx_id = cutoff.tx_id, horizon_id = cutoff.id, pruned_at = now()
            FROM cutoff
            WHERE f.horizon_tx_id IS NULL OR (f.horizon_tx_id, f.horizon_id) < (cutoff.tx_id, cutoff.id)
            RETURNING f.epoch, f.horizon_tx_id, f.horizon_id
          )
          SELECT (SELECT count(*) FROM deleted) AS deleted,
                 (SELECT epoch FROM horizon) AS epoch,
                 (SELECT horizon_tx_id::text FROM horizon) AS horizon_tx_id,
                 (SELECT horizon_id FROM horizon) AS horizon_id`
        return {
          deleted: Number(row!.deleted),
          horizon: row!.horizonTxId === null
            ? null
            : Cursor.encode({ epoch: row!.epoch, txId: BigInt(row!.horizonTxId), id: row!.horizonId! })
        } satisfies Pruned
      }).pipe(Effect.catchIf((error): error is SqlError => error instanceof SqlError, (error) => Effect.fail(databaseError(error))))

    // ---- durable consumers ------------------------------------------------------
    const consume = <E, R>(request: ConsumeRequest<E, R>) =>
      Effect.gen(function*() {
        if (request.name.trim() === "") {
          return yield* new InvalidInput({ field: "name", message: "must not be empty" })
        }
        if (isolated && request.workspaceId === undefined) return yield* workspaceRequired()
        const owner = randomUUID()
        const lease = Duration.decode(request.leaseDuration ?? Duration.seconds(10))
        const leaseSeconds = Duration.toMillis(lease) / 1000
        const maxBatch = request.maxBatch ?? 100

        const initial = yield* resolveStart(request.startFrom ?? "beginning").pipe(
          Effect.map((start) => Cursor.encode(start))
        )
        // Takes the lease when it is free or expired; else waits for it.
        const acquire = sql<{ cursor: string }>`
          INSERT INTO document_consumers (name, cursor, owner, lease_until)
          VALUES (${request.name}, ${initial}, ${owner}, now() + make_interval(secs => ${leaseSeconds}))
          ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
          WHERE document_consumers.owner IS NULL OR document_consumers.owner = EXCLUDED.owner
             OR document_consumers.lease_until < now()
          RETURNING cursor`.pipe(
          Effect.flatMap(([row]) =>
            row ? Effect.succeed(row.cursor) : Effect.fail("held" as const)
          ),
          Effect.tapError(() => Effect.logDebug(`consumer ${request.name} is held by another process; waiting`)),
          Effect.retry({ while: (error) => error === "held", schedule: Schedule.spaced(Duration.divide(lease, 4).pipe(Option.getOrElse(() => lease))) })
        )
        const lost = () => new LeaseLost({ consumer: request.name, message: `the lease of consumer ${request.name} was taken over` })
        const renew = sql`
          UPDATE document_consumers SET lease_until = now() + make_interval(secs => ${leaseSeconds})
          WHERE name = ${request.name} AND owner = ${owner} AND lease_until > now()
          RETURNING 1`.pipe(Effect.flatMap((rows) => rows.length === 1 ? Effect.void : Effect.fail(lost())))
        const checkpoint = (cursor: string) =>
          sql`
            UPDATE document_consumers
            SET cursor = ${cursor}, updated_at = now(), lease_until = now() + make_interval(secs => ${leaseSeconds})
            WHERE name = ${request.name} AND owner = ${owner} AND lease_until > now()
            RETURNING 1`.pipe(Effect.flatMap((rows) => rows.length === 1 ? Effect.void : Effect.fail(lost())))
        const release = sql`
          UPDATE document_consumers SET owner = NULL, lease_until = NULL
          WHERE name = ${request.name} AND owner = ${owner}`.pipe(Effect.ignore)

        const run = Effect.gen(function*() {
          const from = yield* persistently(onPrimary(acquire))
          let stored = from
          return yield* stream({ from, workspaceId: request.workspaceId, kind: request.kind }).pipe(
            Stream.groupedWithin(maxBatch, Duration.millis(50)),
            Stream.mapEffect((batch) => {
              const events = Chunk.toReadonlyArray(batch)
              const changes = events.flatMap((event) => event._tag === "Change" ? [event.change] : [])
              // The signals' cursors move the checkpoint too: a filtered consumer whose last own change is
              // old stays above the retention horizon while it is caught up (else its next start expires).
              const cursor = events[events.length - 1]!.cursor
              const save = cursor === stored
                ? Effect.void
                : Effect.tap(persistently(checkpoint(cursor)), () => Effect.sync(() => (stored = cursor)))
              return changes.length === 0 ? save : Effect.zipRight(request.handler(changes), save)
            }),
            Stream.runDrain,
            // The lease is renewed while the stream runs; losing it stops the stream.
            Effect.raceFirst(
              persistently(renew).pipe(
                Effect.repeat(Schedule.spaced(Duration.divide(lease, 3).pipe(Option.getOrElse(() => lease)))),
                Effect.zipRight(Effect.never)
              )
            )
          )
          // Also when interrupted while acquiring: the INSERT may have taken the lease already.
        }).pipe(Effect.ensuring(release))
        // A failing handler: start again from the last checkpoint, with backoff.
        return yield* run.pipe(
          Effect.retry({
            schedule: retrySchedule,
            while: (error) =>
              !(error instanceof InvalidCursor || error instanceof CursorExpired || error instanceof FeedDiverged ||
                error instanceof LeaseLost ||
                (error instanceof DatabaseError && readOnlyServer.has(error)))
          }),
          Effect.zipRight(Effect.never)
        ) as Effect.Effect<never, InvalidCursor | CursorExpired | FeedDiverged | LeaseLost | DatabaseError, R>
      })

    return { stream, currentCursor, prune, consume } as Context.Tag.Service<DocumentChanges>
  })

/**
 * Needs the database client (see `Database.layer`).
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<DocumentChanges, never, SqlClient.SqlClient | PgClient.PgClient> =>
  Layer.scoped(DocumentChanges, make(options))
