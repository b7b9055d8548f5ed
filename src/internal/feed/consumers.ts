/**
 * Durable consumers as an operator sees them: checkpoint, lag and lease.
 * Shared by `FeedHealth.health` and `docstore consumers`.
 *
 * Lag is counted against the whole feed up to the horizon: a consumer's
 * filters (workspace, kind) are not stored, so for a filtered consumer the
 * figures are an upper bound. Counting walks the feed index after the
 * checkpoint: its cost grows with the lag, not with the log.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Cursor from "../cursor.js"

/** A `document_consumers` row. */
export class ConsumerRow extends Schema.Class<ConsumerRow>("ConsumerRow")({
  name: Schema.String,
  cursor: Schema.String,
  owner: Schema.NullOr(Schema.String),
  leaseUntil: Schema.NullOr(Schema.DateFromSelf),
  updatedAt: Schema.DateFromSelf,
  /** The lease is held now (evaluated by the server's clock). */
  leased: Schema.Boolean
}) {}

/**
 * One durable consumer. `state` is `current` (its checkpoint continues the
 * feed), `expired` (another epoch, or below the retention horizon: its next
 * start fails with `CursorExpired`) or `invalid` (not a cursor of this library).
 */
export interface ConsumerStatus {
  readonly name: string
  readonly checkpoint: string
  readonly checkpointedAt: Date
  readonly state: "current" | "expired" | "invalid"
  /** Deliverable changes after the checkpoint; null unless `current`. */
  readonly lagChanges: number | null
  /** Age of the oldest of them, 0 when there is none; null unless `current`. */
  readonly lagSeconds: number | null
  /** The process (its lease owner id) that holds the consumer now, if any. */
  readonly leaseHolder: string | null
  readonly leaseUntil: Date | null
}

const decodeRows = Schema.decodeUnknown(Schema.Array(ConsumerRow))

/** Every durable consumer, by name, against the feed state `feed` (its epoch and retention horizon). */
export const statuses = (feed: {
  readonly epoch: string
  readonly horizon: Cursor.Position | null
}): Effect.Effect<ReadonlyArray<ConsumerStatus>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* Effect.orDie(decodeRows(
      yield* sql`
        SELECT name, cursor, owner, lease_until, updated_at, coalesce(lease_until > now(), false) AS leased
        FROM document_consumers ORDER BY name`
    ))
    return yield* Effect.forEach(rows, (row) =>
      Effect.gen(function*() {
        const common = {
          name: row.name,
          checkpoint: row.cursor,
          checkpointedAt: row.updatedAt,
          leaseHolder: row.leased ? row.owner : null,
          leaseUntil: row.leased ? row.leaseUntil : null
        }
        const decoded = Cursor.decode(row.cursor)
        if (Either.isLeft(decoded)) return { ...common, state: "invalid", lagChanges: null, lagSeconds: null } as const
        const cursor = decoded.right
        if (cursor.epoch !== feed.epoch || (feed.horizon !== null && Cursor.compare(cursor, feed.horizon) < 0)) {
          return { ...common, state: "expired", lagChanges: null, lagSeconds: null } as const
        }
        const [lag] = yield* sql<{ changes: bigint; seconds: number }>`
          SELECT count(*) AS changes, coalesce(extract(epoch FROM now() - min(changed_at)), 0)::float8 AS seconds
          FROM document_changes
          WHERE (tx_id, id) > (${String(cursor.txId)}::xid8, ${cursor.id})
            AND tx_id < pg_snapshot_xmin(pg_current_snapshot())`
        return { ...common, state: "current", lagChanges: Number(lag!.changes), lagSeconds: lag!.seconds } as const
      }))
  })
