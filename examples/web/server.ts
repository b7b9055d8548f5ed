/**
 * A realtime web example: an Effect HTTP server composing the store's layers.
 *
 *   PORT=8080 tsx examples/web/server.ts     (DATABASE_URL, or the embedded default)
 *   open http://localhost:8080/?workspace=<uuid>
 *
 * - GET  /api/workspaces/:workspaceId/documents  the workspace's documents and the list-then-watch cursor
 * - POST /api/workspaces/:workspaceId/documents  put a version: { kind, name, version, sourceDocumentId?, runId?, exportJobId? }
 * - GET  /api/workspaces/:workspaceId/documents/:documentId/versions/latest
 * - GET  /api/workspaces/:workspaceId/changes    Server-Sent Events: `change` events (their `id` is the cursor,
 *   so a reconnecting EventSource resumes from Last-Event-ID), `caught-up`, and `reset` when the cursor
 *   expired or is invalid: the page then refetches the list and reconnects from its cursor.
 * - GET  /  the page (examples/web/index.html)
 */
import * as fs from "node:fs"
import { createServer } from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Output from "../../src/cli/output.js"
import { Database, DocumentChanges, Documents, ErrorStatus, Migrations } from "../../src/index.js"

const page = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "index.html"), "utf8")
const encoder = new TextEncoder()

const sse = (event: string, data: unknown, id?: string) =>
  encoder.encode(`${id ? `id: ${id}\n` : ""}event: ${event}\ndata: ${Output.jsonLine(data)}\n\n`)

// Typed errors become JSON answers with the right status; nothing else leaks.

const answer = <A>(effect: Effect.Effect<A, { readonly _tag: string; readonly message: string }>, toBody: (a: A) => unknown) =>
  Effect.match(effect, {
    onFailure: (error) => json({ error: error._tag, message: error.message }, ErrorStatus.of(error).httpStatus),
    onSuccess: (value) => json(toBody(value), 200)
  })

// JSON with bigints (byte sizes, change ids) as strings.
const json = (body: unknown, status: number) =>
  HttpServerResponse.text(Output.jsonLine(body), { status, contentType: "application/json" })

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/", HttpServerResponse.html(page)),
  HttpRouter.get(
    "/api/workspaces/:workspaceId/documents",
    Effect.gen(function*() {
      const { workspaceId } = yield* HttpRouter.params
      const documents = yield* Documents.Documents
      return yield* answer(documents.list({ workspaceId: workspaceId ?? "", limit: 1000 }), (listing) => ({
        documents: listing.documents.map(Output.documentRecord),
        cursor: listing.cursor
      }))
    })
  ),
  HttpRouter.get(
    "/api/workspaces/:workspaceId/documents/:documentId/versions/latest",
    Effect.gen(function*() {
      const { documentId, workspaceId } = yield* HttpRouter.params
      const documents = yield* Documents.Documents
      return yield* answer(
        documents.latestVersion({ workspaceId: workspaceId ?? "", documentId: documentId ?? "" }),
        Output.versionRecord
      )
    })
  ),
  HttpRouter.post(
    "/api/workspaces/:workspaceId/documents",
    Effect.gen(function*() {
      const { workspaceId } = yield* HttpRouter.params
      const body = yield* Effect.orElseSucceed(
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => request.json),
        () => ({})
      )
      const documents = yield* Documents.Documents
      return yield* answer(
        documents.put({ ...(body as object), workspaceId } as Documents.PutRequest),
        (written) => ({
          document: Output.documentRecord(written.document),
          version: Output.versionRecord(written.version),
          replayed: written.replayed
        })
      )
    })
  ),
  HttpRouter.get(
    "/api/workspaces/:workspaceId/changes",
    Effect.gen(function*() {
      const { workspaceId } = yield* HttpRouter.params
      const request = yield* HttpServerRequest.HttpServerRequest
      const query = new URL(request.url, "http://localhost").searchParams
      // A reconnecting EventSource sends the id of the last event it received.
      const from = Option.fromNullable(request.headers["last-event-id"]).pipe(
        Option.orElse(() => Option.fromNullable(query.get("cursor"))),
        Option.getOrElse(() => "now")
      )
      const feed = yield* DocumentChanges.DocumentChanges
      const events = feed.stream({ from, workspaceId: workspaceId ?? "" }).pipe(
        Stream.map((event) =>
          DocumentChanges.FeedEvent.$match(event, {
            Change: ({ change, cursor }) => sse("change", Output.changeRecord(change, cursor), cursor),
            CaughtUp: ({ cursor, stall }) => sse("caught-up", { cursor, stall }),
            Heartbeat: ({ stall }) => stall ? sse("stall", stall) : encoder.encode(": heartbeat\n\n")
          })
        ),
        Stream.catchAll((error) => Stream.make(sse("reset", { reason: error._tag, message: error.message })))
      )
      return HttpServerResponse.stream(events, {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
      })
    })
  )
)

const StoreLive = Layer.mergeAll(Documents.layer, DocumentChanges.layer()).pipe(
  Layer.provideMerge(Database.layerConfig)
)

const port = Number(process.env.PORT ?? 8080)

const ServerLive = HttpServer.serve(router).pipe(
  HttpServer.withLogAddress,
  Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })),
  Layer.provide(Layer.effectDiscard(Migrations.run())),
  Layer.provide(StoreLive)
)

NodeRuntime.runMain(Layer.launch(ServerLive))

