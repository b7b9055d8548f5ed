/**
 * Retention: deletes changes older than an age and records the horizon, so
 * older cursors get `CursorExpired`.
 */
import type { SqlClient } from "@effect/sql"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Pruned } from "../../DocumentChanges.js"
import * as Cursor from "../cursor.js"

export const prune = (sql: SqlClient.SqlClient) => (age: Duration.Duration) =>
  Effect.gen(function*() {
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
  })
