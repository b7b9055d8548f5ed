/**
 * `docstore serve` as the tests run it: the HTTP API on a free loopback port,
 * over the library's services on a migrated database of its own (or the one
 * given) and a filesystem blob store in a temporary directory, and tokens
 * made as an operator would (`ApiTokens.create`).
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { NodeContext } from "@effect/platform-node"
import * as PlatformHttpServer from "@effect/platform/HttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as ApiTokens from "../../src/ApiTokens.js"
import * as BlobStore from "../../src/BlobStore.js"
import * as Database from "../../src/Database.js"
import * as DocumentBlobs from "../../src/DocumentBlobs.js"
import * as DocumentChanges from "../../src/DocumentChanges.js"
import * as Documents from "../../src/Documents.js"
import * as HttpServer from "../../src/HttpServer.js"
import * as Migrations from "../../src/Migrations.js"
import * as TenantIsolation from "../../src/TenantIsolation.js"
import { createDatabase } from "./Database.js"

export interface Options {
  readonly feed?: DocumentChanges.Options
  readonly http?: HttpServer.Options
  readonly maxConnections?: number
  /** Serve this (migrated) database, in tenant isolation mode, tokens made on `ownerUrl`. */
  readonly isolated?: { readonly url: string; readonly ownerUrl: string }
}

const client = (url: string, maxConnections?: number) => Database.layer({ url: Redacted.make(url), maxConnections })

export const start = async (options: Options = {}) => {
  const url = options.isolated?.url ?? await createDatabase("http")
  if (!options.isolated) {
    const migrator = ManagedRuntime.make(client(url))
    await migrator.runPromise(Migrations.run())
    await migrator.dispose()
  }
  const blobRoot = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-http-blobs-"))
  const services = DocumentBlobs.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(
      Documents.layer,
      DocumentChanges.layer(options.feed),
      ApiTokens.layer,
      BlobStore.layerFileSystem({ root: blobRoot })
    )),
    Layer.provideMerge(options.isolated ? TenantIsolation.layer : Layer.empty),
    Layer.provideMerge(client(url, options.maxConnections ?? 20)),
    Layer.provide(NodeContext.layer)
  )
  const runtime = ManagedRuntime.make(HttpServer.layerServe({ ...options.http, port: 0 }).pipe(Layer.provideMerge(services)))
  const operator = options.isolated ? ManagedRuntime.make(ApiTokens.layer.pipe(Layer.provide(client(options.isolated.ownerUrl)))) : runtime
  const address = await runtime.runPromise(Effect.map(PlatformHttpServer.HttpServer, (server) => server.address))
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  const base = `http://127.0.0.1:${address.port}`
  /** A token for the workspace (a new one unless given). */
  const workspace = async (workspaceId: string = randomUUID()) => {
    const created = await operator.runPromise(
      Effect.flatMap(ApiTokens.ApiTokens, (tokens) => tokens.create({ workspaceId, label: "test" }))
    )
    return { workspaceId, token: Redacted.value(created.secret), tokenId: created.token.id }
  }
  const close = async () => {
    await runtime.dispose()
    if (operator !== runtime) await operator.dispose()
    await fs.rm(blobRoot, { recursive: true, force: true })
  }
  return { url, base, blobRoot, runtime, workspace, close }
}

export type Server = Awaited<ReturnType<typeof start>>
