/**
 * 0013 blob references: an index on `file_versions (storage_key)`, by which
 * blob gc asks, for a batch of the store's keys, which ones any version still
 * references (docs/blobs.md, "Garbage collection"). Without it every batch
 * scans all of file_versions.
 *
 * A plain CREATE INDEX (the migrator's transaction forbids CONCURRENTLY): it
 * blocks writes to file_versions while it builds, about a second per million
 * versions.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE INDEX file_versions_storage_key ON file_versions (storage_key)`
})
