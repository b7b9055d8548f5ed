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
import * as Exit from "effect/Exit"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as String from "effect/String"
import pg from "pg"
import * as EmbeddedPostgres from "./EmbeddedPostgres.js"
import * as DirectStatement from "./internal/directStatement.js"

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

/** How long after the server's statement timeout the client gives up on a silent connection. */
const graceMillis = (statementMillis: number) => Math.min(1000, Math.ceil(statementMillis / 10))

/**
 * Added to the error of a statement that may have committed although its
 * answer never arrived (sent outside a transaction, or a COMMIT).
 *
 * @since 0.1.0
 */
export const statementOutcomeUnknown =
  "no answer from the server: if the statement wrote, it may or may not have committed"

// Sent, and the connection died before the answer: the server may have committed it, or may still.
const unknownOutcome = (error: Error) => {
  if (!(error instanceof pg.DatabaseError) && !error.message.includes(statementOutcomeUnknown)) {
    error.message = `${error.message} (${statementOutcomeUnknown})`
  }
}

/**
 * A `pg` client that closes its connection when a statement goes unanswered
 * past its deadline. `pg`'s own `query_timeout` only stops waiting: the
 * connection would go back to the pool still waiting for that answer, and
 * every statement after it would queue behind it. Closing it fails the
 * statement (and anything queued) at once and the pool replaces it.
 */
const clientWithDeadline = (deadlineMillis: number) =>
  class DeadlineClient extends pg.Client {
    /** Set by `withoutStatementTimeout` for the transaction it runs in. */
    exempt = false
    /** Why the connection was closed: later statements on it say so. */
    lostBecause: Error | undefined = undefined
    /** The server's transaction status at its last ReadyForQuery: `I` outside a transaction. */
    transactionStatus = "I"
    /** A statement that commits by itself (or a COMMIT) was sent and is not answered yet. */
    awaitingCommit = false

    constructor(config?: pg.ClientConfig) {
      super(config)
      this.on("error", (error: Error) => {
        this.lostBecause ??= error
      })
      this.connection.on("readyForQuery", (message: { status?: string }) => {
        this.transactionStatus = message.status ?? "I"
      })
      // @effect/sql-pg reports the connection's error event, not the statement's: say it there too.
      const emit = this.emit.bind(this)
      ;(this as { emit: unknown }).emit = (event: string | symbol, ...args: Array<unknown>) => {
        const error = args[0]
        if (event === "error" && this.awaitingCommit && error instanceof Error) unknownOutcome(error)
        return emit(event, ...args)
      }
      const query = this.query.bind(this) as (...args: Array<unknown>) => unknown
      ;(this as { query: unknown }).query = (config: unknown, values?: unknown, callback?: unknown) => {
        const done = typeof values === "function" ? values : callback
        if (typeof done !== "function") return query(config, values, callback)
        const timer = deadlineMillis > 0 && !this.exempt
          ? setTimeout(() => {
            const error = new Error(
              `no answer from the database server within ${deadlineMillis} ms; the connection was closed`
            )
            this.lostBecause ??= error
            this.connection.stream.destroy(error)
          }, deadlineMillis)
          : undefined
        // Sent outside a transaction, a statement commits by itself; so does a COMMIT.
        const commits = this.transactionStatus === "I" || (typeof config === "string" && /^\s*COMMIT\b/i.test(config))
        const sent = (this as unknown as { _queryable?: boolean })._queryable !== false && !this.lostBecause
        this.awaitingCommit = commits && sent
        const answered = (error: Error | null, result: unknown) => {
          if (timer !== undefined) clearTimeout(timer)
          this.awaitingCommit = false
          if (error && !sent && this.lostBecause && error !== this.lostBecause) {
            // Refused before it was sent: it did nothing.
            error = new Error(`${error.message}: ${this.lostBecause.message}`)
          } else if (error && commits && sent) {
            unknownOutcome(error)
          }
          ;(done as (error: Error | null, result: unknown) => void)(error, result)
        }
        return typeof values === "function" ? query(config, answered) : query(config, values, answered)
      }
    }
  }

/**
 * The message of the `SqlError` for a COMMIT that got no answer: the
 * transaction may or may not have committed.
 *
 * @since 0.1.0
 */
export const commitOutcomeUnknown = "The connection was lost during COMMIT: the transaction may or may not have committed"

/**
 * A failed COMMIT or ROLLBACK is a defect in `@effect/sql`'s `withTransaction`;
 * a lost connection makes both fail. Here they are `SqlError`s: after a failed
 * ROLLBACK the transaction's own failure is kept (the server rolls back a
 * transaction whose connection is gone); a COMMIT that got no answer says
 * that its outcome is unknown.
 */
const typedTransactionEnds = (client: PgClient.PgClient): PgClient.PgClient => {
  const withTransaction = client.withTransaction
  const typed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
    Effect.suspend(() => {
      let body: Exit.Exit<A, E> | undefined
      return withTransaction(Effect.onExit(effect, (exit) => Effect.sync(() => (body = exit)))).pipe(
        Effect.catchAllDefect((defect): Effect.Effect<A, E | SqlError> => {
          if (!(defect instanceof SqlError)) return Effect.die(defect)
          if (body !== undefined && Exit.isFailure(body)) return body
          if (body === undefined) return Effect.fail(defect)
          // The server's answer (a refused COMMIT rolled back), or no answer at all.
          const answered = defect.cause instanceof pg.DatabaseError
          return Effect.fail(
            answered ? defect : new SqlError({ cause: defect.cause, message: commitOutcomeUnknown })
          )
        })
      )
    })
  ;(client as { withTransaction: unknown }).withTransaction = typed
  return client
}

/**
 * A client for the given URL, with the project's conventions.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError> => {
  const connectMillis = millisOf(options.connectTimeout ?? defaults.connectTimeout)
  const statementMillis = millisOf(options.statementTimeout ?? defaults.statementTimeout)
  const idleMillis = millisOf(options.idleInTransactionTimeout ?? defaults.idleInTransactionTimeout)
  const acquire = Effect.acquireRelease(
    Effect.sync(() => {
      const pool = new pg.Pool({
        connectionString: Redacted.value(options.url),
        max: options.maxConnections ?? 10,
        application_name: options.applicationName ?? "effect-docstore",
        types,
        ...(connectMillis > 0 ? { connectionTimeoutMillis: connectMillis } : {}),
        ...(statementMillis > 0 ? { statement_timeout: statementMillis } : {}),
        ...(idleMillis > 0 ? { idle_in_transaction_session_timeout: idleMillis } : {}),
        keepAlive: true,
        Client: clientWithDeadline(statementMillis > 0 ? statementMillis + graceMillis(statementMillis) : 0)
      })
      // An idle connection that dies is removed by the pool; nothing to report.
      pool.on("error", () => {})
      return pool
    }),
    (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
  ).pipe(
    // Fail at start-up, not at the first statement, when the server is unreachable.
    Effect.tap((pool) =>
      Effect.tryPromise({
        try: () => pool.query("SELECT 1"),
        catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
      })
    )
  )
  return Layer.scopedContext(
    Effect.flatMap(acquire, (pool) =>
      PgClient.fromPool({
        acquire: Effect.succeed(pool),
        applicationName: options.applicationName ?? "effect-docstore",
        transformResultNames: String.snakeToCamel,
        transformQueryNames: String.camelToSnake,
        transformJson: false
      }).pipe(
        Effect.map(typedTransactionEnds),
        // put's statement and the wake-up NOTIFY skip @effect/sql's per-statement machinery on this pool
        // (internal/directStatement.ts).
        Effect.tap((client) => Effect.sync(() => DirectStatement.register(client, pool))),
        Effect.map((client) => Context.make(PgClient.PgClient, client).pipe(Context.add(SqlClient.SqlClient, client)))
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
    // The connection of @effect/sql-pg's transaction holds its pg client as `pg`.
    const client = (transaction.value[0] as { readonly pg?: unknown }).pg as { exempt?: boolean } | undefined
    if (client === undefined || typeof client.exempt !== "boolean") return yield* effect
    return yield* Effect.acquireUseRelease(
      Effect.sync(() => (client.exempt = true)),
      () => effect,
      () => Effect.sync(() => (client.exempt = false))
    )
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
 * The timeouts from the environment: `DATABASE_CONNECT_TIMEOUT`,
 * `DATABASE_STATEMENT_TIMEOUT` and `DATABASE_IDLE_IN_TRANSACTION_TIMEOUT`,
 * durations such as `10 seconds` or `500 millis` (`0 seconds` turns one off);
 * unset ones keep their defaults.
 *
 * @since 0.1.0
 */
export const timeoutsConfig: Config.Config<
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
  PgClient.PgClient | SqlClient.SqlClient,
  SqlError | DatabaseUrlMissing | EmbeddedPostgres.EmbeddedPostgresError | ConfigError.ConfigError
> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const timeouts = yield* timeoutsConfig
    const source = yield* resolveUrl
    return layer({ url: source._tag === "Configured" ? source.url : source.server.url, ...timeouts })
  })
)
