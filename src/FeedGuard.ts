/**
 * The feed guard: does this server's transaction counter continue the
 * history the change feed's positions were taken in?
 *
 * The feed orders changes by `tx_id`, the writing transaction's id in the
 * cluster that wrote it. A logical copy of the database into another cluster
 * (pg_dump / pg_restore, a logical replica) keeps the stored ids but not the
 * counter: new changes would get lower ids than the history, sort below it,
 * and every reader positioned at the end would silently never see them. The
 * verdict, in this order (docs/change-feed.md, "Backups, restores and the
 * feed guard"):
 *
 * - `Diverged`: a stored position (the newest change, the retention horizon,
 *   the highest counter the library saw here, or a durable consumer's
 *   checkpoint of this epoch) lies at or above this server's next transaction
 *   id. Writes and streams fail with `FeedDiverged` until `repair` ran.
 * - `Adopted`: the cluster identity (`system_identifier`) changed, but every
 *   stored position lies below the counter (pg_upgrade carries the counter
 *   over; a restore into a cluster that is already further along): new
 *   changes order after all of them, so nothing can be mis-ordered. The new
 *   identity is recorded and the feed goes on.
 * - `Healthy`: same cluster, positions below the counter (also after a
 *   physical restore or a standby's promotion: same history).
 * - `Unchecked`: the database has not run migration 0011 yet (a library
 *   deployed before its migration): nothing is refused, as before the guard.
 *
 * @since 0.1.0
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Database from "./Database.js"
import type { DatabaseError } from "./Errors.js"
import * as Guard from "./internal/feed/guard.js"
import { databaseError } from "./internal/sqlError.js"

/**
 * @since 0.1.0
 */
export {
  /** What `document_feed_facts()` (migration 0011) reports, in one snapshot. */
  Facts,
  /** The facts and the durable consumers' checkpoints of the current epoch; reads only. */
  facts,
  /** The rule, on the facts: pure. */
  judge,
  /** `Healthy`, `Adopted`, `Diverged` or `Unchecked` (the module's comment says when). */
  Verdict
} from "./internal/feed/guard.js"

/**
 * @since 0.1.0
 */
export type { Checkpoint } from "./internal/feed/guard.js"

/**
 * The verdict, recording what it saw (`Guard.check`): database failures as `DatabaseError`.
 *
 * @since 0.1.0
 */
export const verdict: Effect.Effect<Guard.Verdict, DatabaseError, SqlClient.SqlClient> = Effect.mapError(Guard.check, databaseError)

/**
 * What `repair` did.
 *
 * @since 0.1.0
 */
export interface Repaired {
  /** False when the feed was healthy and `force` was not given: nothing was changed. */
  readonly repaired: boolean
  /** The verdict before the repair. */
  readonly verdict: Guard.Verdict
  readonly previousEpoch: string
  readonly epoch: string
  /** Changes kept and re-stamped into the new epoch. */
  readonly restamped: number
}

// PostgreSQL's FirstNormalTransactionId: no transaction of any cluster has a lower id.
const firstNormalTransactionId = "3"

/**
 * The remedy: starts a new feed epoch in one transaction. Every change is
 * kept and re-stamped, in its feed order, with transaction id 3 (the first
 * normal one: below every transaction of any cluster) and new ids; the retention
 * horizon is cleared (the whole log is in the new epoch), and the cluster and
 * watermark are recorded anew. Every cursor of the old epoch then fails with
 * `CursorExpired { reason: "epoch" }`, durable consumers' checkpoints
 * included. `files` and `file_versions` are not touched. On a healthy feed it
 * changes nothing unless `force` is given. Runs as the tables' owner.
 *
 * @since 0.1.0
 */
export const repair = (options: { readonly force?: boolean | undefined } = {}): Effect.Effect<
  Repaired,
  DatabaseError,
  SqlClient.SqlClient
> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const work = Effect.gen(function*() {
      // Writers' triggers wait (and another repair); readers go on.
      yield* sql`LOCK TABLE document_feed, document_changes IN EXCLUSIVE MODE`
      const found = yield* Guard.facts
      const before = Guard.judge(found.facts, found.checkpoints)
      const previousEpoch = found.facts.epoch
      if (before._tag === "Healthy" && options.force !== true) {
        return { repaired: false, verdict: before, previousEpoch, epoch: previousEpoch, restamped: 0 } satisfies Repaired
      }
      // Not this transaction's own id: a writer that got a lower one and waits for the lock would log its
      // change below the history (a document's version 2 before its version 1). No reader of the new epoch
      // can be past these positions: the epoch becomes visible with them.
      const restamped = yield* sql`
        WITH old AS (DELETE FROM document_changes RETURNING *)
        INSERT INTO document_changes (tx_id, workspace_id, document_id, kind, op, version_no, changed_at)
        SELECT ${firstNormalTransactionId}::xid8, workspace_id, document_id, kind, op, version_no, changed_at
        FROM old ORDER BY tx_id, id`.raw as Effect.Effect<
          { rowCount: number },
          SqlError
        >
      const [row] = yield* sql<{ epoch: string }>`
        UPDATE document_feed
        SET epoch = gen_random_uuid(), created_at = now(), horizon_tx_id = NULL, horizon_id = NULL, pruned_at = NULL,
            cluster_id = (SELECT system_identifier::text FROM pg_control_system()),
            seen_xmax = pg_snapshot_xmax(pg_current_snapshot())
        RETURNING epoch`
      return { repaired: true, verdict: before, previousEpoch, epoch: row!.epoch, restamped: restamped.rowCount } satisfies Repaired
    })
    const repaired = yield* sql.withTransaction(Database.withoutStatementTimeout(work))
    // This process's writes and streams on this client need not wait for the cached verdict to lapse.
    Guard.forget(sql)
    return repaired
  }).pipe(Effect.catchIf((error): error is SqlError => error instanceof SqlError, (error) => Effect.fail(databaseError(error))))
