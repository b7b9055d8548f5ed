/**
 * Wake-ups: a hint, sent after the library's own commits, that the change
 * feed has something new. Polling stays the ground truth; a lost wake-up only
 * delays delivery to the next poll.
 *
 * The NOTIFY is sent after the commit, outside the writing transaction (a
 * NOTIFY inside it would serialise commits cluster-wide), and coalesced: at
 * most one is in flight.
 */
import { SqlClient } from "@effect/sql"
import type { PgClientConfig } from "@effect/sql-pg/PgClient"
import * as Option from "effect/Option"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import pg from "pg"
import * as DirectStatement from "./directStatement.js"
import * as Pool from "./pool.js"

export const channel = "docstore_document_changes"

/** The writer's side: `notify` never waits for the database. */
export const makeNotifier: Effect.Effect<{ readonly notify: Effect.Effect<void> }, never, SqlClient.SqlClient | Scope.Scope> =
  Effect.gen(function*() {
    const direct = yield* DirectStatement.make(yield* SqlClient.SqlClient)
    const pending = yield* Queue.sliding<void>(1)
    const dirty = yield* Ref.make(false)
    // A NOTIFY commits a transaction of its own; it is only a hint, so it need not wait for its WAL flush
    // (with the default synchronous_commit each write would wait for a second flush). The channel is written
    // out: a statement without parameters goes by the simple protocol (one message instead of five, nothing
    // for the server to parse, bind and describe).
    const send = Effect.ignore(direct`SELECT set_config('synchronous_commit', 'off', true), pg_notify('docstore_document_changes', '1')`)
    const flush = Effect.flatMap(Ref.getAndSet(dirty, false), (wanted) => wanted ? send : Effect.void)
    // Once claimed, a hint is sent even while the scope closes.
    yield* Effect.uninterruptibleMask((restore) => Effect.zipRight(restore(Queue.take(pending)), flush)).pipe(
      Effect.forever,
      Effect.forkScoped
    )
    // A program that ends right after its last write still sends the hint.
    yield* Effect.addFinalizer(() => Effect.ignore(Effect.timeout(flush, Duration.seconds(2))))
    return { notify: Effect.zipRight(Ref.set(dirty, true), Effect.asVoid(Queue.offer(pending, undefined))) }
  })

const applicationName = "effect-docstore wake-up"

/**
 * Where the LISTEN connection goes: the pool's own connection options when
 * `Database.layer` built the client, else what the client reports of its
 * configuration.
 */
export const listenOptions = (client: SqlClient.SqlClient, config: PgClientConfig): Effect.Effect<pg.ClientConfig> =>
  Effect.map(Pool.of(client), (pool) =>
    Option.match(pool, {
      onSome: (pool) => Pool.connectionOptions(pool, applicationName),
      onNone: () => ({
        host: config.host,
        port: config.port,
        user: config.username,
        password: config.password ? Redacted.value(config.password) : undefined,
        database: config.database,
        ssl: config.ssl,
        application_name: applicationName,
        keepAlive: true
      })
    }))

/**
 * The reader's side: a dedicated connection LISTENing on the channel, which
 * reconnects (with backoff) whenever it errors or ends.
 */
export const listen = (
  options: pg.ClientConfig,
  onWake: () => void
): Effect.Effect<void, never, Scope.Scope> => {
  const session = Effect.acquireRelease(
    Effect.sync(() => {
      const client = new pg.Client(options)
      const ended = Deferred.unsafeMake<void>(undefined as never)
      client.on("error", () => Deferred.unsafeDone(ended, Effect.void))
      client.on("end", () => Deferred.unsafeDone(ended, Effect.void))
      client.on("notification", (message) => {
        if (message.channel === channel) onWake()
      })
      return { client, ended }
    }),
    ({ client }) => Effect.promise(() => client.end().catch(() => undefined))
  ).pipe(
    Effect.tap(({ client }) =>
      Effect.tryPromise(async () => {
        await client.connect()
        await client.query(`LISTEN ${client.escapeIdentifier(channel)}`)
      })
    ),
    // Connected: a wake-up now covers anything committed while we were away.
    Effect.tap(() => Effect.sync(onWake)),
    Effect.flatMap(({ ended }) => Deferred.await(ended))
  )
  return Effect.scoped(session).pipe(
    Effect.ignore,
    Effect.zipRight(Effect.sleep(Duration.millis(500))),
    Effect.forever,
    Effect.forkScoped,
    Effect.asVoid
  )
}
