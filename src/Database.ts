/**
 * The database connection: one `PgClient` (which is also the `SqlClient`) for
 * the whole program.
 *
 * Naming convention, decided once: SQL speaks snake_case, TypeScript speaks
 * camelCase. The client translates row keys (`name_key` arrives as `nameKey`)
 * and identifiers built with `sql(...)` / `sql.insert(...)`; JSON values are
 * left as they are. `int8` (bigserial ids, `count(*)`) arrives as `bigint`.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as String from "effect/String"
import pg from "pg"
import * as EmbeddedPostgres from "./EmbeddedPostgres.js"

/**
 * `DATABASE_URL` is missing where an embedded database must not be started.
 *
 * @since 0.1.0
 */
export class DatabaseUrlMissing extends Schema.TaggedError<DatabaseUrlMissing>()(
  "DatabaseUrlMissing",
  { message: Schema.String }
) {}

const int8 = 20
const int8Array = 1016

// pg's defaults, except that int8 values become bigint instead of strings.
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === int8) return BigInt
    if (oid === int8Array) return (value: string) => (pg.types.getTypeParser(int8Array as Parameters<typeof pg.types.getTypeParser>[0]) as (value: string) => Array<string>)(value).map(BigInt)
    return pg.types.getTypeParser(oid, format)
  }) as pg.CustomTypesConfig["getTypeParser"]
}

/**
 * @since 0.1.0
 */
export interface Options {
  readonly url: Redacted.Redacted<string>
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
}

/**
 * A client for the given URL, with the project's conventions.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError> =>
  PgClient.layer({
    url: options.url,
    maxConnections: options.maxConnections ?? 10,
    applicationName: options.applicationName ?? "effect-docstore",
    types,
    transformResultNames: String.snakeToCamel,
    transformQueryNames: String.camelToSnake,
    transformJson: false
  })

/**
 * Where the connection URL comes from.
 *
 * @since 0.1.0
 */
export type Source =
  | { readonly _tag: "Configured"; readonly url: Redacted.Redacted<string> }
  | { readonly _tag: "Embedded"; readonly server: EmbeddedPostgres.Server }

/**
 * Reads `DATABASE_URL`. When it is unset, starts (or reuses) the embedded
 * server in `.docstore/` and says so on stderr; with `NODE_ENV=production`
 * that fails with `DatabaseUrlMissing` instead.
 *
 * @since 0.1.0
 */
export const resolveUrl: Effect.Effect<
  Source,
  DatabaseUrlMissing | EmbeddedPostgres.EmbeddedPostgresError | ConfigError.ConfigError
> = Effect.gen(function*() {
  // An empty DATABASE_URL (DATABASE_URL= in a shell or .env file) counts as unset.
  const configured = Option.filter(
    yield* Config.option(Config.redacted("DATABASE_URL")),
    (url) => Redacted.value(url).trim() !== ""
  )
  if (Option.isSome(configured)) return { _tag: "Configured", url: configured.value } as const
  const environment = yield* Config.string("NODE_ENV").pipe(Config.withDefault("development"))
  if (environment === "production") {
    return yield* new DatabaseUrlMissing({
      message: "DATABASE_URL is not set. In production (NODE_ENV=production) no embedded database is started."
    })
  }
  const server = yield* EmbeddedPostgres.ensure(EmbeddedPostgres.defaultDirectory)
  process.stderr.write(
    `docstore: DATABASE_URL is not set; using the embedded PostgreSQL in ${EmbeddedPostgres.defaultDirectory}/ ` +
      `(127.0.0.1:${server.port}, ${server.startedHere ? "started now, keeps running" : "already running"})\n`
  )
  return { _tag: "Embedded", server } as const
})

/**
 * A client configured from the environment (see `resolveUrl`).
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient,
  SqlError | DatabaseUrlMissing | EmbeddedPostgres.EmbeddedPostgresError | ConfigError.ConfigError
> = Layer.unwrapEffect(
  Effect.map(resolveUrl, (source) => layer({ url: source._tag === "Configured" ? source.url : source.server.url }))
)
