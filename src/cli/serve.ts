/**
 * `docstore serve [--port N] [--host H]`: the HTTP API (docs/http.md) until
 * interrupted. Requests need a token: `docstore token create --workspace <id>`.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import * as PlatformHttpServer from "@effect/platform/HttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as HttpServer from "../HttpServer.js"
import * as Services from "./services.js"

/**
 * @since 0.1.0
 */
export const serve = Command.make(
  "serve",
  {
    port: Options.integer("port").pipe(Options.withDefault(8080), Options.withDescription("0 picks a free port.")),
    host: Options.text("host").pipe(Options.withDefault("127.0.0.1")),
    maxBodyBytes: Options.integer("max-body-bytes").pipe(Options.withDefault(1024 * 1024)),
    maxUploadBytes: Options.integer("max-upload-bytes").pipe(
      Options.withDefault(1024 * 1024 * 1024),
      Options.withDescription("The largest upload (the bytes of one version).")
    ),
    tenantIsolation: Options.boolean("tenant-isolation").pipe(
      Options.withDescription("Run every request's statements under row-level security (docs/schema.md).")
    )
  },
  (options) =>
    Effect.gen(function*() {
      const server = yield* PlatformHttpServer.HttpServer
      const address = server.address._tag === "TcpAddress"
        ? `http://${server.address.hostname}:${server.address.port}`
        : server.address.path
      yield* Effect.sync(() => process.stderr.write(`docstore: serving ${address} (the page at ${address}/, the API's reference at ${address}/docs)\n`))
      return yield* Effect.never
    }).pipe(
      Effect.provide(
        HttpServer.layerServe({
          port: options.port,
          host: options.host,
          maxBodyBytes: options.maxBodyBytes,
          maxUploadBytes: options.maxUploadBytes,
          webPage: true
        }).pipe(
          Layer.provide(Services.layer({ tenantIsolation: options.tenantIsolation }))
        )
      )
    )
).pipe(Command.withDescription("Serve the HTTP API (documents, versions, the change feed) until interrupted."))
