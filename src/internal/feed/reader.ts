/**
 * Reading the feed: one batch of changes below the horizon, the feed's state,
 * the transaction that holds the horizon back, and whether a cursor expired.
 *
 * Reading order is (tx_id, id), and only below the horizon
 * `pg_snapshot_xmin(pg_current_snapshot())`: every transaction below it has
 * finished, so a row whose transaction commits late is never skipped.
 */
import type { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { Change } from "../../Change.js"
import { CursorExpired, InvalidCursor, InvalidInput } from "../../Errors.js"
import type { Stall } from "../../FeedEvent.js"
import * as Cursor from "../cursor.js"
import type * as TenantScoping from "../tenantScoping.js"
import * as ChangeRow from "./changeRow.js"

export interface Reader {
  readonly sql: SqlClient.SqlClient
  readonly isolation: TenantScoping.Scoping
  /** Rows per read, for catch-up and the live tail. */
  readonly batchSize: number
  /** A transaction open longer than this is reported as a stall. */
  readonly stallThresholdSeconds: number
}

export interface Filter {
  readonly workspaceId?: string | undefined
  readonly kind?: string | undefined
}

/** The feed's epoch and retention horizon, which every cursor is checked against. */
export interface FeedState {
  readonly epoch: string
  readonly horizon: Cursor.Position | null
}

export interface Read extends FeedState {
  /** Every transaction below it had finished when the batch was read. */
  readonly xmin: bigint
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

export const positionOf = (change: Change): Cursor.Position => ({ txId: change.txId, id: change.id })

/** The retention horizon as document_feed stores it (xid8 as text), if prune has set one. */
export const horizonOf = (txId: string | null, id: bigint | null): Cursor.Position | null =>
  txId === null ? null : { txId: BigInt(txId), id: id! }

export const matches = (filter: Filter) => (change: Change) =>
  (filter.workspaceId === undefined || change.workspaceId === filter.workspaceId) &&
  (filter.kind === undefined || change.kind === filter.kind)

export const retrySchedule = Schedule.exponential(Duration.millis(50), 2).pipe(
  Schedule.either(Schedule.spaced(Duration.seconds(5))),
  Schedule.jittered
)

/** Retries database failures forever, with backoff: a restarted server is waited for. */
export const persistently = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, Exclude<E, SqlError>> =>
  Effect.retry(effect, retrySchedule.pipe(Schedule.whileInput((error: E) => error instanceof SqlError))) as Effect.Effect<
    A,
    Exclude<E, SqlError>
  >

export const workspaceRequired = () =>
  new InvalidInput({ field: "workspaceId", message: "is required under tenant isolation: a stream reads one workspace" })

/** Changes after `after` (up to `until`), at most `limit`, with the feed's state, all from one snapshot. */
export const read = (reader: Reader) =>
(after: Cursor.Position, filter: Filter, limit: number, until?: Cursor.Position): Effect.Effect<Read, SqlError> =>
  Effect.gen(function*() {
    const { sql } = reader
    // One statement, one snapshot: the feed row, the horizon and the changes agree (both xmins are the
    // statement snapshot's). The feed row comes once, not repeated on every change. No ORDER BY around
    // the UNION (sorting the batch again costs the server, docs/scaling.md): the LIMIT's ORDER BY picks
    // the batch, and its order is checked below. The columns of a change: see ChangeRow.Row. Under
    // isolation, without a workspace the policies let nothing through.
    const rows = yield* reader.isolation.scoped(filter.workspaceId ?? "")(sql`
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
    return { epoch, horizon: horizonOf(horizonTxId, horizonId), xmin: BigInt(xmin), changes }
  })

/** The feed's epoch and horizon, and the horizon of transactions (`xmin`) of "now". */
export const feedState = (reader: Reader) =>
  reader.sql<{ epoch: string; horizonTxId: string | null; horizonId: bigint | null; xmin: string }>`
    SELECT epoch, horizon_tx_id::text AS horizon_tx_id, horizon_id,
           pg_snapshot_xmin(pg_current_snapshot())::text AS xmin
    FROM document_feed`.pipe(Effect.map(([row]) => row!))

/** The oldest open transaction that has written, when it is older than the stall threshold. */
export const stallNow = (reader: Reader): Effect.Effect<Stall | null> =>
  reader.sql<{ pid: number; applicationName: string; ageSeconds: number }>`
    SELECT pid, application_name, extract(epoch FROM now() - xact_start)::float8 AS age_seconds
    FROM pg_stat_activity
    WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
    ORDER BY xact_start LIMIT 1`.pipe(
    Effect.map(([row]) => row && row.ageSeconds >= reader.stallThresholdSeconds ? row as Stall : null),
    Effect.orElseSucceed(() => null)
  )

export const expired = (cursor: Cursor.Cursor, state: FeedState): Option.Option<CursorExpired> => {
  if (state.epoch !== cursor.epoch) {
    return Option.some(
      new CursorExpired({
        reason: "epoch",
        message: "the cursor belongs to another feed epoch (the feed was recreated or the database restored); " +
          "refetch: list the documents, then stream from the listing's cursor"
      })
    )
  }
  if (state.horizon !== null && Cursor.compare(cursor, state.horizon) < 0) {
    return Option.some(
      new CursorExpired({
        reason: "retention",
        message: "the changes after this cursor were pruned by retention; " +
          "refetch: list the documents, then stream from the listing's cursor"
      })
    )
  }
  return Option.none()
}

/** Where `"beginning"`, `"now"` or a cursor puts a stream. */
export const resolveStart = (reader: Reader) => (from: string): Effect.Effect<Cursor.Cursor, InvalidCursor> =>
  Effect.gen(function*() {
    if (from === "beginning" || from === "now") {
      const state = yield* persistently(feedState(reader))
      const horizon = horizonOf(state.horizonTxId, state.horizonId)
      const position = from === "now" ? { txId: BigInt(state.xmin), id: 0n } : horizon ?? { txId: 0n, id: 0n }
      return { epoch: state.epoch, ...position }
    }
    return yield* Either.mapLeft(Cursor.decode(from), (why) => new InvalidCursor({ message: `the cursor ${why}` }))
  })
