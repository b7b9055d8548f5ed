/**
 * 0011 feed identity: the change feed remembers which cluster's transaction
 * ids its positions are in (docs/change-feed.md, "Backups, restores and the
 * feed guard").
 *
 * The feed orders changes by `tx_id`, a transaction id of the cluster that
 * wrote them. A logical restore (pg_dump / pg_restore) into another cluster
 * keeps the stored ids but not the counter: new changes would sort below the
 * history. `document_feed` now records the cluster (`system_identifier`) and
 * the highest "next transaction id" the library has seen there (`seen_xmax`),
 * so the guard can tell such a copy from the same history (a physical
 * restore, a promoted standby, pg_upgrade). `document_feed_facts()` reads what
 * the guard needs in one statement, as the tables' owner: under tenant
 * isolation the runtime role sees no change it may not read, but the guard
 * must see the newest one. `document_feed_observe()` moves the watermark.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [schema] = yield* sql<{ name: string }>`SELECT current_schema() AS name`
  const path = sql(schema!.name)
  yield* sql`ALTER TABLE document_feed ADD COLUMN cluster_id text, ADD COLUMN seen_xmax xid8`
  yield* sql`
    UPDATE document_feed
    SET cluster_id = (SELECT system_identifier::text FROM pg_control_system()),
        seen_xmax = pg_snapshot_xmax(pg_current_snapshot())`
  yield* sql`
    CREATE FUNCTION document_feed_facts()
    RETURNS TABLE (epoch uuid, recorded_cluster text, cluster text, xmax xid8, newest_tx_id xid8,
                   horizon_tx_id xid8, seen_xmax xid8, in_recovery boolean)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ${path}, pg_temp AS $$
      SELECT f.epoch, f.cluster_id, (SELECT system_identifier::text FROM pg_control_system()),
             pg_snapshot_xmax(pg_current_snapshot()),
             (SELECT c.tx_id FROM document_changes c ORDER BY c.tx_id DESC, c.id DESC LIMIT 1),
             f.horizon_tx_id, f.seen_xmax, pg_is_in_recovery()
      FROM document_feed f
    $$`
  // Only ever raised; the cluster is re-recorded only when the guard found every stored position
  // below this server's counter (src/internal/feed/guard.ts).
  yield* sql`
    CREATE FUNCTION document_feed_observe() RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = ${path}, pg_temp AS $$
      UPDATE document_feed
      SET seen_xmax = greatest(coalesce(seen_xmax, '0'::xid8), pg_snapshot_xmax(pg_current_snapshot())),
          cluster_id = (SELECT system_identifier::text FROM pg_control_system())
    $$`
})
