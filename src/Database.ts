/**
 * The database connection: one `PgClient` (which is also the `SqlClient`) for
 * the whole program.
 *
 * Naming convention, decided once: SQL speaks snake_case, TypeScript speaks
 * camelCase. The client translates row keys (`name_key` arrives as `nameKey`)
 * and identifiers built with `sql(...)` / `sql.insert(...)`; JSON values are
 * left as they are. `int8` (bigserial ids, `count(*)`) arrives as `bigint`.
 *
 * Timeouts, decided once: connecting is bounded (`connectTimeout`), and so is
 * every statement (`statementTimeout`), twice over. The server cancels a
 * statement that runs too long (`statement_timeout`); the client closes a
 * connection that has not answered shortly after that, which is the only way
 * to notice a server or network that went silent without a reset. Sessions
 * left idle inside a transaction are ended by the server
 * (`idleInTransactionTimeout`). Migrations lift the statement timeouts for
 * their own transaction (`withoutStatementTimeout`).
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as String from "effect/String"
import * as EmbeddedPostgres from "./EmbeddedPostgres.js"
import * as PgPool from "./internal/pg/pool.js"
import * as Transactions from "./internal/pg/transactions.js"

/**
 * `DATABASE_URL` is missing where an embedded database must not be started.
 *
 * @since 0.1.0
 */
export class DatabaseUrlMissing extends Schema.TaggedError<DatabaseUrlMissing>()(
  "DatabaseUrlMissing",
  { message: Schema.String }
) {}

/**
 * @since 0.1.0
 */
export interface Options {
  readonly url: Redacted.Redacted<string>
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
  /**
   * Opening a connection (TCP, TLS, authentication), and waiting for a free
   * one when all `maxConnections` are busy. Default 10 s.
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * The longest one statement may take. The server cancels it then; a
   * connection that has still not answered a little later (a tenth of the
   * timeout, at most 1 s) is closed by the client: that is how a server or
   * network that went silent is detected. Default 30 s; zero or infinity
   * turns both off.
   */
  readonly statementTimeout?: Duration.DurationInput | undefined
  /**
   * The server ends a session that sits inside an open transaction doing
   * nothing for this long (a client that died mid-transaction would
   * otherwise hold its locks, and the change feed's horizon, for hours).
   * Default 60 s; zero or infinity turns it off.
   */
  readonly idleInTransactionTimeout?: Duration.DurationInput | undefined
}

/**
 * The defaults of `Options`' timeouts.
 *
 * @since 0.1.0
 */
export const defaults = {
  connectTimeout: Duration.seconds(10),
  statementTimeout: Duration.seconds(30),
  idleInTransactionTimeout: Duration.seconds(60)
} as const

// Zero and infinity both mean "off": 0 ms, as PostgreSQL spells it.
const millisOf = (duration: Duration.DurationInput): number => {
  const decoded = Duration.decode(duration)
  return Duration.isFinite(decoded) ? Math.max(0, Math.round(Duration.toMillis(decoded))) : 0
}

/**
 * The message of the `SqlError` for a COMMIT that got no answer: the
 * transaction may or may not have committed.
 *
 * @since 0.1.0
 */
export const commitOutcomeUnknown = Transactions.commitOutcomeUnknown

/**
 * The `pg` pool under a client that `layer` built; the library sends its hot
 * path's statements on it directly. A client built elsewhere has none, and
 * the library then sends everything through `@effect/sql`.
 *
 * @since 0.1.0
 */
export const Pool = PgPool.Pool

/**
 * @since 0.1.0
 */
export type Pool = PgPool.Pool

/**
 * A client for the given URL, with the project's conventions.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | Pool, SqlError> => {
  const applicationName = options.applicationName ?? "effect-docstore"
  const settings: PgPool.Settings = {
    url: Redacted.value(options.url),
    maxConnections: options.maxConnections ?? 10,
    applicationName,
    connectMillis: millisOf(options.connectTimeout ?? defaults.connectTimeout),
    statementMillis: millisOf(options.statementTimeout ?? defaults.statementTimeout),
    idleInTransactionMillis: millisOf(options.idleInTransactionTimeout ?? defaults.idleInTransactionTimeout)
  }
  return Layer.scopedContext(
    Effect.flatMap(PgPool.acquire(settings), (pool) =>
      PgClient.fromPool({
        acquire: Effect.succeed(pool),
        applicationName,
        transformResultNames: String.snakeToCamel,
        transformQueryNames: String.camelToSnake,
        transformJson: false
      }).pipe(
        Effect.map(Transactions.typedTransactionEnds),
        Effect.map((client) =>
          Context.make(PgClient.PgClient, client).pipe(
            Context.add(SqlClient.SqlClient, client),
            Context.add(PgPool.Pool, { pool, client })
          )
        )
      ))
  ).pipe(Layer.provide(Reactivity.layer))
}

/**
 * Lifts the statement timeouts (the server's and the client's) for the rest
 * of the enclosing transaction: for migrations, whose statements may run for
 * minutes. Runs inside `sql.withTransaction`.
 *
 * @since 0.1.0
 */
export const withoutStatementTimeout = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError, R | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const transaction = yield* Effect.serviceOption(SqlClient.TransactionConnection)
    if (Option.isNone(transaction)) {
      return yield* Effect.dieMessage("Database.withoutStatementTimeout runs inside sql.withTransaction")
    }
    yield* sql`SET LOCAL statement_timeout = 0`
    return yield* Transactions.exemptFromDeadline(transaction.value[0], effect)
  })

/** Where the connection URL comes from. */
type Source =
  | { readonly _tag: "Configured"; readonly url: Redacted.Redacted<string> }
  | { readonly _tag: "Embedded"; readonly server: EmbeddedPostgres.Server }

/**
 * Reads `DATABASE_URL`. When it is unset, starts (or reuses) the embedded
 * server in `.docstore/` and says so on stderr; with `NODE_ENV=production`
 * that fails with `DatabaseUrlMissing` instead.
 */
const resolveUrl: Effect.Effect<
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
 * The timeouts from the environment: `DATABASE_CONNECT_TIMEOUT`,
 * `DATABASE_STATEMENT_TIMEOUT` and `DATABASE_IDLE_IN_TRANSACTION_TIMEOUT`,
 * durations such as `10 seconds` or `500 millis` (`0 seconds` turns one off);
 * unset ones keep their defaults.
 */
const timeoutsConfig: Config.Config<
  Pick<Options, "connectTimeout" | "statementTimeout" | "idleInTransactionTimeout">
> = Config.all({
  connectTimeout: Config.duration("DATABASE_CONNECT_TIMEOUT").pipe(Config.withDefault(defaults.connectTimeout)),
  statementTimeout: Config.duration("DATABASE_STATEMENT_TIMEOUT").pipe(Config.withDefault(defaults.statementTimeout)),
  idleInTransactionTimeout: Config.duration("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT").pipe(
    Config.withDefault(defaults.idleInTransactionTimeout)
  )
})

/**
 * A client configured from the environment (see `resolveUrl` and `timeoutsConfig`).
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient | Pool,
  SqlError | DatabaseUrlMissing | EmbeddedPostgres.EmbeddedPostgresError | ConfigError.ConfigError
> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const timeouts = yield* timeoutsConfig
    const source = yield* resolveUrl
    return layer({ url: source._tag === "Configured" ? source.url : source.server.url, ...timeouts })
  })
)
