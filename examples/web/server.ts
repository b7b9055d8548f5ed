/**
 * A backend that mounts the store's HTTP API and its web page in a server of
 * its own (what `docstore serve` does, written out):
 *
 *   PORT=8080 tsx examples/web/server.ts     (DATABASE_URL, or the embedded default)
 *
 * It migrates, makes a token for a new workspace, and prints the page's
 * address with both: documents, versions with download links, uploads, and
 * live updates, all through the API (docs/http.md).
 */
import { createServer } from "node:http"
import { HttpApiBuilder, HttpServer as PlatformHttpServer } from "@effect/platform"
import { NodeContext, NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { randomUUID } from "node:crypto"
import {
  ApiTokens,
  BlobStore,
  Database,
  DocumentBlobs,
  DocumentChanges,
  Documents,
  HttpServer,
  Migrations
} from "../../src/index.js"

const StoreLive = DocumentBlobs.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(Documents.layer, DocumentChanges.layer(), ApiTokens.layer, BlobStore.layerConfig)),
  Layer.provideMerge(Layer.effectDiscard(Migrations.run())),
  Layer.provideMerge(Database.layerConfig),
  Layer.provide(NodeContext.layer)
)

const port = Number(process.env.PORT ?? 8080)

/** Once listening: a token for a new workspace, and the page's address that opens it. */
const Welcome = Layer.effectDiscard(Effect.gen(function*() {
  const workspaceId = randomUUID()
  const created = yield* Effect.flatMap(ApiTokens.ApiTokens, (tokens) => tokens.create({ workspaceId, label: "web example" }))
  const secret = Redacted.value(created.secret)
  yield* Console.log(`open http://127.0.0.1:${port}/?workspace=${workspaceId}#token=${secret}`)
}))

const ServerLive = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpServer.layer({ webPage: true })),
  PlatformHttpServer.withLogAddress,
  Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })),
  Layer.merge(Welcome),
  Layer.provide(StoreLive)
)

NodeRuntime.runMain(Layer.launch(ServerLive))
