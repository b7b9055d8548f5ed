/**
 * The HTTP API (`HttpApi.Api`) implemented on the services: `layer` for a
 * backend that mounts it in its own server (with `HttpApiBuilder.serve`),
 * `layerServe` for a server of its own on a port (`docstore serve`).
 *
 * Every request needs a token of the path's workspace (`ApiTokens`); a token
 * of another workspace is answered 404, exactly as a missing document or
 * workspace. With tenant isolation on (`TenantIsolation.layer` under the
 * services), each request's statements run under row-level security for its
 * workspace: the services scope them. See docs/http.md.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiScalar from "@effect/platform/HttpApiScalar"
import type { ServeError } from "@effect/platform/HttpServerError"
import type * as HttpApi from "@effect/platform/HttpApi"
import * as PlatformHttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { ApiTokens } from "./ApiTokens.js"
import type { DocumentBlobs } from "./DocumentBlobs.js"
import { DocumentChanges } from "./DocumentChanges.js"
import { Documents } from "./Documents.js"
import { DocumentNotFound } from "./Errors.js"
import { Api, Authorization, Caller, Unauthorized, WorkspaceNotFound } from "./HttpApi.js"
import type { WorkspaceId } from "./Ids.js"
import * as Changes from "./internal/http/changes.js"
import * as Content from "./internal/http/content.js"
import * as Guard from "./internal/http/guard.js"
import * as WebPage from "./internal/http/webPage.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** The largest request body accepted; larger ones are answered 413. Default 1 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** The largest upload (`POST .../documents/upload`, the bytes of a version). Default 1 GiB. */
  readonly maxUploadBytes?: number | undefined
  /** A request whose answer has not started by then is answered 503. Default 30 s. */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** How long a long-poll waits for a change when the request does not say (`timeout`). Default 20 s. */
  readonly longPollTimeout?: Duration.DurationInput | undefined
  /** Changes in one catch-up answer when the request does not say (`limit`). Default 1000. */
  readonly catchUpLimit?: number | undefined
  /** Answer `/` with the web page (documents, versions, downloads, live updates). Default false. */
  readonly webPage?: boolean | undefined
}

const resolve = (options: Options) => {
  const requestTimeout = Duration.decode(options.requestTimeout ?? Duration.seconds(30))
  return {
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    maxUploadBytes: options.maxUploadBytes ?? 1024 * 1024 * 1024,
    requestTimeout,
    changes: {
      defaultLimit: options.catchUpLimit ?? 1000,
      longPollTimeout: Duration.decode(options.longPollTimeout ?? Duration.seconds(20)),
      // A long-poll answers before the request timeout would.
      maxLongPollTimeout: Duration.max(Duration.subtract(requestTimeout, Duration.seconds(1)), Duration.millis(100))
    }
  }
}

// ---------------------------------------------------------------------------
// Who may see what
// ---------------------------------------------------------------------------

const missingToken = new Unauthorized({
  message: "no token: send Authorization: Bearer <token> (docstore token create --workspace <id>)"
})

const AuthorizationLive = Layer.effect(
  Authorization,
  Effect.gen(function*() {
    const tokens = yield* ApiTokens
    return {
      bearer: (header) =>
        Effect.gen(function*() {
          // EventSource cannot send headers: it may pass the token as ?access_token=.
          const query = (yield* HttpServerRequest.ParsedSearchParams)["access_token"]
          const secret = Redacted.value(header) || (typeof query === "string" ? query : "")
          if (secret === "") return yield* missingToken
          const token = yield* tokens.authenticate(secret).pipe(
            Effect.catchTag("InvalidToken", (error) => Effect.fail(new Unauthorized({ message: error.message })))
          )
          return { workspaceId: token.workspaceId, tokenId: token.id }
        })
    }
  })
)

/** Another workspace than the token's: answered as one that does not exist. */
const ownWorkspace = (workspaceId: WorkspaceId) =>
  Effect.flatMap(Caller, (caller) =>
    caller.workspaceId === workspaceId ? Effect.void : Effect.fail(
      new WorkspaceNotFound({ workspaceId, message: `no workspace ${workspaceId} for this token` })
    ))

/** A document of another workspace than the token's: answered exactly as a missing one. */
const ownDocument = (path: { readonly workspaceId: WorkspaceId; readonly documentId: string }) =>
  Effect.flatMap(Caller, (caller) =>
    caller.workspaceId === path.workspaceId ? Effect.void : Effect.fail(
      new DocumentNotFound({ documentId: path.documentId, message: `no document ${path.documentId} in this workspace` })
    ))

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

const DocumentsLive = HttpApiBuilder.group(Api, "documents", (handlers) =>
  Effect.gen(function*() {
    const documents = yield* Documents
    return handlers
      .handle("list", ({ path, urlParams }) =>
        Effect.zipRight(ownWorkspace(path.workspaceId), documents.list({ ...urlParams, workspaceId: path.workspaceId })))
      .handle("put", ({ path, payload }) =>
        Effect.zipRight(ownWorkspace(path.workspaceId), documents.put({ ...payload, workspaceId: path.workspaceId })))
      .handle("get", ({ path }) => Effect.zipRight(ownDocument(path), documents.get(path)))
      .handle("delete", ({ path }) => Effect.zipRight(ownDocument(path), documents.delete(path)))
      .handle("versions", ({ path }) =>
        Effect.zipRight(ownDocument(path), Effect.map(documents.versions(path), (versions) => ({ versions }))))
      .handle("version", ({ path }) => Effect.zipRight(ownDocument(path), documents.version(path)))
  }))

const ContentLive = (maxUploadBytes: number) =>
  HttpApiBuilder.group(Api, "content", (handlers) =>
    Effect.succeed(
      handlers
        .handle("upload", ({ path, urlParams }) =>
          Effect.zipRight(ownWorkspace(path.workspaceId), Content.upload(maxUploadBytes)(path.workspaceId, urlParams)))
        .handle("download", ({ headers, path }) => Effect.zipRight(ownDocument(path), Content.download(path, headers)))
    ))

const ChangesLive = (options: Changes.Options) =>
  HttpApiBuilder.group(Api, "changes", (handlers) =>
    Effect.gen(function*() {
      const changes = yield* Changes.handler(options)
      return handlers.handle("changes", ({ headers, path, urlParams }) =>
        Effect.zipRight(
          ownWorkspace(path.workspaceId),
          changes({
            workspaceId: path.workspaceId,
            params: urlParams,
            lastEventId: headers["last-event-id"],
            ifNoneMatch: headers["if-none-match"]
          })
        ))
    }))

/**
 * The API with its handlers, its limits, `/openapi.json`, its reference at
 * `/docs` and (with `webPage`) the web page at `/`, for
 * `HttpApiBuilder.serve` (or `HttpApiBuilder.httpApp`) in a backend's own server.
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<HttpApi.Api, never, Documents | DocumentBlobs | DocumentChanges | ApiTokens> => {
  const resolved = resolve(options)
  const api = HttpApiBuilder.api(Api).pipe(
    Layer.provide([DocumentsLive, ContentLive(resolved.maxUploadBytes), ChangesLive(resolved.changes)]),
    Layer.provide(AuthorizationLive)
  )
  return Layer.mergeAll(
    HttpApiBuilder.middlewareOpenApi(),
    // The API's reference, its script inlined (no CDN).
    HttpApiScalar.layer({ path: "/docs" }),
    options.webPage ? WebPage.layer : Layer.empty,
    Guard.layer(resolved)
  ).pipe(Layer.provideMerge(api))
}

/**
 * A server of its own, listening on `port` (0: any free one) of `host`
 * (default 127.0.0.1); its address is the `HttpServer`'s. Closing it ends
 * the open responses (live feeds) instead of waiting for them.
 *
 * @since 0.1.0
 */
export const layerServe = (
  options: Options & { readonly port: number; readonly host?: string | undefined }
): Layer.Layer<PlatformHttpServer.HttpServer, ServeError, Documents | DocumentBlobs | DocumentChanges | ApiTokens> =>
  Layer.unwrapEffect(Effect.sync(() => {
    const server = createServer()
    // Closing the server waits for open responses, and a live feed never ends: end them first.
    const endResponses = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections())))
    return HttpApiBuilder.serve().pipe(
      Layer.provide(layer(options)),
      Layer.provideMerge(endResponses),
      Layer.provideMerge(NodeHttpServer.layer(() => server, { port: options.port, host: options.host ?? "127.0.0.1" }))
    )
  }))
