/**
 * `docstore token create|revoke|list`: the bearer tokens of the HTTP API.
 * A token belongs to one workspace; its secret is printed once.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as ApiTokens from "../ApiTokens.js"
import * as Services from "./services.js"

const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON object a line."))

const record = (token: ApiTokens.ApiToken) => ({
  id: token.id,
  workspaceId: token.workspaceId,
  label: token.label,
  createdAt: token.createdAt.toISOString(),
  revokedAt: token.revokedAt?.toISOString() ?? null
})

const create = Command.make(
  "create",
  {
    workspace: Options.text("workspace").pipe(Options.withDescription("The workspace the token may read and write.")),
    label: Options.text("label").pipe(Options.withDefault(""), Options.withDescription("What the token is for.")),
    json
  },
  (options) =>
    Effect.gen(function*() {
      const tokens = yield* ApiTokens.ApiTokens
      const created = yield* tokens.create({ workspaceId: options.workspace, label: options.label })
      const secret = Redacted.value(created.secret)
      yield* options.json
        ? Console.log(JSON.stringify({ ...record(created.token), token: secret }))
        : Console.log(`token ${created.token.id} for workspace ${created.token.workspaceId}:\n${secret}\n` +
          "(shown once: only its sha256 is stored)")
    })
).pipe(Command.withDescription("Create a bearer token for one workspace; prints its secret once."))

const revoke = Command.make("revoke", { tokenId: Args.text({ name: "token-id" }), json }, (options) =>
  Effect.gen(function*() {
    const token = yield* (yield* ApiTokens.ApiTokens).revoke({ tokenId: options.tokenId })
    yield* Console.log(options.json ? JSON.stringify(record(token)) : `revoked token ${token.id} (${token.revokedAt?.toISOString()})`)
  })).pipe(Command.withDescription("Revoke a token: the next request with it is refused."))

const list = Command.make(
  "list",
  { workspace: Options.text("workspace").pipe(Options.optional), json },
  (options) =>
    Effect.gen(function*() {
      const tokens = yield* (yield* ApiTokens.ApiTokens).list(
        options.workspace._tag === "Some" ? { workspaceId: options.workspace.value } : {}
      )
      for (const token of tokens) {
        yield* Console.log(
          options.json
            ? JSON.stringify(record(token))
            : `${token.id}  ${token.workspaceId}  ${token.revokedAt ? "revoked" : "active "}  ${token.label}`
        )
      }
    })
).pipe(Command.withDescription("List tokens (never their secrets), newest first."))

/**
 * @since 0.1.0
 */
export const token = Command.make("token").pipe(
  Command.withDescription("Bearer tokens of the HTTP API (docstore serve)."),
  Command.withSubcommands([create, revoke, list]),
  Command.provide(Services.tokens)
)
