/**
 * 0012 api tokens: the bearer tokens of the HTTP API (docs/http.md,
 * "Tokens"). Each token is scoped to one workspace and stored as the sha256
 * of its secret: the secret itself is shown once, when it is created, and a
 * copy of this table lets nobody call the API.
 *
 * Revoking sets `revoked_at` (the row stays, so a revoked token is still
 * listed with when it was revoked). No row-level security: a request's token
 * is looked up before its workspace is known; the runtime role only reads it.
 */
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE api_tokens (
      id           uuid PRIMARY KEY,
      workspace_id uuid NOT NULL,
      token_sha256 text NOT NULL UNIQUE CHECK (length(token_sha256) = 64 AND token_sha256 !~ '[^0-9a-f]'),
      label        text NOT NULL DEFAULT '',
      created_at   timestamptz NOT NULL DEFAULT now(),
      revoked_at   timestamptz
    )`
  yield* sql`CREATE INDEX api_tokens_workspace_id ON api_tokens (workspace_id)`
})
