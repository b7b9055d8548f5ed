/**
 * The change feed: `document_changes` read as a gap-free, resumable Stream.
 *
 * Reading order is (tx_id, id), and only below the horizon
 * `pg_snapshot_xmin(pg_current_snapshot())`: every transaction below it has
 * finished, so a row whose transaction commits late is never skipped (reading
 * `id > cursor` would skip it). See docs/change-feed.md. The machinery lives in
 * `internal/feed/` (reader, tail, subscriber, prune, consumer); this module is
 * its face: the requests, the service and its layer.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Change } from "./Change.js"
import { Kind } from "./Document.js"
import { CursorExpired, DatabaseError, FeedDiverged, InvalidCursor, InvalidInput, LeaseLost } from "./Errors.js"
import type { FeedEvent } from "./FeedEvent.js"
import { WorkspaceId } from "./Ids.js"
import * as Cursor from "./internal/cursor.js"
import { consume } from "./internal/feed/consumer.js"
import * as FeedGuard from "./internal/feed/guard.js"
import { prune } from "./internal/feed/prune.js"
import { feedState, type Reader } from "./internal/feed/reader.js"
import * as Subscriber from "./internal/feed/subscriber.js"
import * as Tail from "./internal/feed/tail.js"
import * as Wakeup from "./internal/pg/wakeup.js"
import { databaseError } from "./internal/sqlError.js"
import * as TenantScoping from "./internal/tenantScoping.js"
import { decodeInput } from "./internal/validation.js"
import * as TenantIsolation from "./TenantIsolation.js"

export {
  /**
   * @since 0.1.0
   */
  FeedEvent,
  /**
   * @since 0.1.0
   */
  type Stall
} from "./FeedEvent.js"

export {
  /**
   * @since 0.1.0
   */
  LeaseLost
} from "./Errors.js"

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
  readonly stream: (
    request: StreamRequest
  ) => Stream.Stream<FeedEvent, InvalidInput | InvalidCursor | CursorExpired | FeedDiverged>
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
    const isolated = (yield* TenantIsolation.TenantIsolation).enabled
    const heartbeatInterval = Duration.decode(options.heartbeatInterval ?? Duration.seconds(5))
    const reader: Reader = {
      sql,
      isolation: TenantScoping.scoping(sql, isolated),
      batchSize: options.batchSize ?? 1000,
      stallThresholdSeconds: Duration.toSeconds(options.stallThreshold ?? Duration.seconds(5))
    }
    const tail = yield* Tail.make(reader, {
      isolated,
      pollInterval: Duration.decode(options.pollInterval ?? Duration.millis(100)),
      stallCheckInterval: heartbeatInterval,
      subscriberBuffer: options.subscriberBuffer ?? 64
    })
    if (options.wakeups ?? true) {
      yield* Wakeup.listen(yield* Wakeup.listenOptions(sql, (yield* PgClient.PgClient).config), tail.wake)
    }
    const guard = yield* FeedGuard.of(sql)
    const subscribe = Subscriber.stream(reader, tail, { isolated, heartbeatInterval, guard })
    const stream = (input: StreamRequest) => Stream.unwrap(Effect.map(decodeInput(StreamRequest)(input), subscribe))
    return DocumentChanges.of({
      stream,
      currentCursor: Effect.mapError(
        Effect.map(feedState(reader), (state) => Cursor.encode({ epoch: state.epoch, txId: BigInt(state.xmin), id: 0n })),
        databaseError
      ),
      prune: (input) =>
        Effect.try({
          try: () => Duration.decode(input.olderThan),
          catch: () => new InvalidInput({ field: "olderThan", message: "must be a duration such as '7 days'" })
        }).pipe(
          Effect.flatMap((olderThan) => decodeInput(PruneRequest)({ olderThan })),
          Effect.flatMap(({ olderThan }) => prune(sql)(olderThan)),
          Effect.catchIf((error): error is SqlError => error instanceof SqlError, (error) => Effect.fail(databaseError(error)))
        ),
      consume: consume(reader, stream, isolated)
    })
  })

/**
 * Needs the database client (see `Database.layer`).
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<DocumentChanges, never, SqlClient.SqlClient | PgClient.PgClient> =>
  Layer.scoped(DocumentChanges, make(options))
