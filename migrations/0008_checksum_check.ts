/**
 * 0008 checksum check: the same rule for `file_versions.sha256`, at a tenth of
 * the cost (docs/migrations.md step 0008).
 *
 * 0002 wrote the rule as `sha256 ~ '^[0-9a-f]{64}$'`. PostgreSQL's regular
 * expression engine pays for the bounded repetition `{64}` on every row it
 * checks, on every version written and on every scan that validates the
 * constraint (the figures: docs/migrations.md). "64 characters, none outside
 * 0-9 and a-f" is the same rule, NULL still allowed.
 *
 * 0002 now creates the constraint in this form already; this step brings
 * databases migrated before that to the same definition. It re-validates every
 * version under the ACCESS EXCLUSIVE lock 0002 also took: seconds per million
 * versions.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE file_versions
      DROP CONSTRAINT file_versions_sha256_check,
      ADD CONSTRAINT file_versions_sha256_check CHECK (length(sha256) = 64 AND sha256 !~ '[^0-9a-f]')`
})
