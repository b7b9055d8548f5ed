/**
 * The bearer tokens of the HTTP API (`docstore serve`): each one is scoped to
 * one workspace, stored as the sha256 of its secret (table `api_tokens`,
 * migration 0012), and revocable. The secret is returned once, by `create`.
 *
 * @since 0.1.0
 */
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { DatabaseError, InvalidInput } from "./Errors.js"
import { WorkspaceId } from "./Ids.js"
import { databaseError } from "./internal/sqlError.js"
import { decodeInput } from "./internal/validation.js"

/**
 * A token as stored: everything but its secret.
 *
 * @since 0.1.0
 */
export class ApiToken extends Schema.Class<ApiToken>("ApiToken")({
  id: Schema.UUID,
  workspaceId: WorkspaceId,
  label: Schema.String,
  createdAt: Schema.DateFromSelf,
  revokedAt: Schema.NullOr(Schema.DateFromSelf)
}) {}

/**
 * No such token (revoking an id that was never issued).
 *
 * @since 0.1.0
 */
export class TokenNotFound extends Schema.TaggedError<TokenNotFound>()("TokenNotFound", {
  tokenId: Schema.String,
  message: Schema.String
}) {}

/**
 * The secret presented is no token, or a revoked one; `message` says which,
 * never whose.
 *
 * @since 0.1.0
 */
export class InvalidToken extends Schema.TaggedError<InvalidToken>()("InvalidToken", {
  message: Schema.String
}) {}

/**
 * @since 0.1.0
 */
export interface Created {
  readonly token: ApiToken
  /** The bearer secret: shown once, stored only as its sha256. */
  readonly secret: Redacted.Redacted<string>
}

const CreateRequest = Schema.Struct({
  workspaceId: WorkspaceId,
  label: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(200)), { default: () => "" })
})

const TokenRef = Schema.Struct({ tokenId: Schema.UUID })

const ListRequest = Schema.Struct({ workspaceId: Schema.optional(WorkspaceId) })

/**
 * @since 0.1.0
 */
export class ApiTokens extends Context.Tag("effect-docstore/ApiTokens")<ApiTokens, {
  readonly create: (
    request: { readonly workspaceId: string; readonly label?: string | undefined }
  ) => Effect.Effect<Created, InvalidInput | DatabaseError>
  /** Revokes at once: the next request with it is refused. Revoking twice keeps the first time. */
  readonly revoke: (
    request: { readonly tokenId: string }
  ) => Effect.Effect<ApiToken, InvalidInput | TokenNotFound | DatabaseError>
  /** Tokens, newest first; of one workspace when given. */
  readonly list: (
    request?: { readonly workspaceId?: string | undefined }
  ) => Effect.Effect<ReadonlyArray<ApiToken>, InvalidInput | DatabaseError>
  /** The live token whose secret this is. */
  readonly authenticate: (secret: string) => Effect.Effect<ApiToken, InvalidToken | DatabaseError>
}>() {}

/**
 * Every secret starts with it, so that a leaked one is recognisable (secret scanners, logs).
 *
 * @since 0.1.0
 */
export const secretPrefix = "dst_"

const hash = (secret: string) => createHash("sha256").update(secret).digest("hex")

// A row that does not decode is a bug of ours: a defect.
const decodeToken = (row: unknown) => Effect.orDie(Schema.decodeUnknown(ApiToken)(row))

const boundary = <A, E>(effect: Effect.Effect<A, E | SqlError>): Effect.Effect<A, E | DatabaseError> =>
  Effect.catchIf(effect, (error): error is SqlError => error instanceof SqlError, (error) => Effect.fail(databaseError(error)))

/**
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const columns = sql`id, workspace_id, label, created_at, revoked_at`

  const create = (input: { readonly workspaceId: string; readonly label?: string | undefined }) =>
    Effect.gen(function*() {
      const request = yield* decodeInput(CreateRequest)(input)
      const secret = `${secretPrefix}${randomBytes(32).toString("base64url")}`
      const rows = yield* sql`
        INSERT INTO api_tokens (id, workspace_id, token_sha256, label)
        VALUES (${randomUUID()}, ${request.workspaceId}, ${hash(secret)}, ${request.label})
        RETURNING ${columns}`
      return { token: yield* decodeToken(rows[0]), secret: Redacted.make(secret) } satisfies Created
    })

  const revoke = (input: { readonly tokenId: string }) =>
    Effect.gen(function*() {
      const { tokenId } = yield* decodeInput(TokenRef)(input)
      const rows = yield* sql`
        UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = ${tokenId}
        RETURNING ${columns}`
      if (rows.length === 0) return yield* new TokenNotFound({ tokenId, message: `no token ${tokenId}` })
      return yield* decodeToken(rows[0])
    })

  const list = (input: { readonly workspaceId?: string | undefined } = {}) =>
    Effect.gen(function*() {
      const request = yield* decodeInput(ListRequest)(input)
      const rows = yield* sql`
        SELECT ${columns} FROM api_tokens
        ${request.workspaceId === undefined ? sql`` : sql`WHERE workspace_id = ${request.workspaceId}`}
        ORDER BY created_at DESC, id`
      return yield* Effect.forEach(rows, decodeToken)
    })

  const invalid = new InvalidToken({ message: "the bearer token is not valid (unknown or revoked)" })

  const authenticate = (secret: string) =>
    Effect.gen(function*() {
      // Only well-formed secrets reach the database.
      if (!secret.startsWith(secretPrefix) || secret.length > 100) return yield* invalid
      const rows = yield* sql`
        SELECT ${columns} FROM api_tokens WHERE token_sha256 = ${hash(secret)} AND revoked_at IS NULL`
      if (rows.length === 0) return yield* invalid
      return yield* decodeToken(rows[0])
    })

  return ApiTokens.of({
    create: (request) => boundary(create(request)),
    revoke: (request) => boundary(revoke(request)),
    list: (request) => boundary(list(request)),
    authenticate: (secret) => boundary(authenticate(secret))
  })
})

/**
 * Needs a `SqlClient` on a database migrated to 0012.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<ApiTokens, never, SqlClient.SqlClient> = Layer.effect(ApiTokens, make)
