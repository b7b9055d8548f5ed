/**
 * 0005 document consumers: durable change-feed consumers keep their
 * checkpoint here (docs/change-feed.md, "Durable consumers").
 *
 * A consumer holds a lease (owner, lease_until) while it runs; its
 * checkpoint only advances under a lease it still holds, so two processes
 * running the same consumer never both advance it.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE document_consumers (
      name        text PRIMARY KEY CHECK (name <> ''),
      cursor      text NOT NULL,
      owner       uuid,
      lease_until timestamptz,
      updated_at  timestamptz NOT NULL DEFAULT now()
    )`
})
