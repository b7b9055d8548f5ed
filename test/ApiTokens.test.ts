/**
 * The HTTP API's bearer tokens: one workspace each, stored as a sha256,
 * revocable at once.
 */
import { randomUUID } from "node:crypto"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ApiTokens from "../src/ApiTokens.js"
import { layerMigrated } from "./support/Database.js"

layer(ApiTokens.layer.pipe(Layer.provideMerge(layerMigrated)))("ApiTokens", (it) => {
  it.effect("authenticates a created token as its workspace's, until revoked", () =>
    Effect.gen(function*() {
      const tokens = yield* ApiTokens.ApiTokens
      const workspaceId = randomUUID()
      const created = yield* tokens.create({ workspaceId, label: "ci" })
      const secret = Redacted.value(created.secret)
      expect(secret).toMatch(/^dst_[A-Za-z0-9_-]{43}$/)
      expect(yield* tokens.authenticate(secret)).toMatchObject({ id: created.token.id, workspaceId, revokedAt: null })
      const revoked = yield* tokens.revoke({ tokenId: created.token.id })
      expect(revoked.revokedAt).toBeInstanceOf(Date)
      const again = yield* tokens.revoke({ tokenId: created.token.id })
      expect(again.revokedAt).toEqual(revoked.revokedAt)
      const refused = yield* Effect.exit(tokens.authenticate(secret))
      expect(refused).toEqual(Exit.fail(new ApiTokens.InvalidToken({ message: "the bearer token is not valid (unknown or revoked)" })))
    }))

  it.effect("lists a workspace's tokens, newest first, never their secrets", () =>
    Effect.gen(function*() {
      const tokens = yield* ApiTokens.ApiTokens
      const workspaceId = randomUUID()
      const first = yield* tokens.create({ workspaceId })
      const second = yield* tokens.create({ workspaceId, label: "second" })
      yield* tokens.create({ workspaceId: randomUUID() })
      const listed = yield* tokens.list({ workspaceId })
      expect(listed.map((token) => token.id).sort()).toEqual([first.token.id, second.token.id].sort())
      expect(JSON.stringify(listed)).not.toContain(Redacted.value(first.secret))
    }))

  it.effect("rejects bad input naming the field, and unknown token ids", () =>
    Effect.gen(function*() {
      const tokens = yield* ApiTokens.ApiTokens
      expect(yield* Effect.flip(tokens.create({ workspaceId: "nope" }))).toMatchObject({ _tag: "InvalidInput", field: "workspaceId" })
      expect(yield* Effect.flip(tokens.revoke({ tokenId: "nope" }))).toMatchObject({ _tag: "InvalidInput", field: "tokenId" })
      const missing = randomUUID()
      expect(yield* Effect.flip(tokens.revoke({ tokenId: missing }))).toMatchObject({ _tag: "TokenNotFound", tokenId: missing })
      expect(yield* Effect.flip(tokens.authenticate("Bearer-less garbage"))).toMatchObject({ _tag: "InvalidToken" })
    }))
})
