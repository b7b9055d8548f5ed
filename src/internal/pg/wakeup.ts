/**
 * Wake-ups: a hint, sent after the library's own commits, that the change
 * feed has something new. Polling stays the ground truth; a lost wake-up only
 * delays delivery to the next poll.
 *
 * A NOTIFY in every writing transaction would serialise their commits
 * cluster-wide (the notify queue's lock is held through each commit). So at
 * most one hint is on its way at a time: either carried by a statement that
 * commits by itself (`pg_notify` in `put`'s statement, delivered at its
 * commit, no statement of its own), or a NOTIFY sent after the commits it
 * covers. Every commit is followed by a hint that was sent after it.
 */
import { SqlClient } from "@effect/sql"
import type { PgClientConfig } from "@effect/sql-pg/PgClient"
import * as Option from "effect/Option"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import pg from "pg"
import * as DirectStatement from "./directStatement.js"
import * as Pool from "./pool.js"

export const channel = "docstore_document_changes"

export interface Notifier {
  /** After a commit of the library's own: a hint follows it. Never waits for the database. */
  readonly notify: Effect.Effect<void>
  /**
   * Runs a statement that commits by itself (outside a transaction). With `wake` true it must call
   * `pg_notify` on `channel`: it carries the hint for itself and for the commits before it. When another statement
   * carries one already, it runs with `wake` false and `notify` follows it.
   */
  readonly carrying: <A, E, R>(statement: (wake: boolean) => Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** The writer's side. */
export const makeNotifier: Effect.Effect<Notifier, never, SqlClient.SqlClient | Scope.Scope> = Effect.gen(function*() {
  const direct = yield* DirectStatement.make(yield* SqlClient.SqlClient)
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  // Plain counters, not Refs: they are read and set on every put, always synchronously.
  // Commits that asked for a hint, and how many of the first of them a hint sent after them covers.
  let requested = 0
  let covered = 0
  let carrier = false
  const uncovered = () => covered < requested && !carrier
  // A NOTIFY commits a transaction of its own; it is only a hint, so it need not wait for its WAL flush
  // (with the default synchronous_commit each write would wait for a second flush). The channel is written
  // out: a statement without parameters goes by the simple protocol (one message instead of five, nothing
  // for the server to parse, bind and describe).
  const send = Effect.suspend(() => {
    const through = requested
    return direct.outsideTransaction`SELECT set_config('synchronous_commit', 'off', true), pg_notify('docstore_document_changes', '1')`.pipe(
      Effect.tap(() => Effect.sync(() => (covered = Math.max(covered, through)))),
      Effect.ignore
    )
  })
  // Under load a write that carries the hint usually starts within the moment waited here, and no NOTIFY is
  // needed; without one, the hint goes out by itself. A timer, not a fiber waiting on a queue: that fiber's
  // rounds cost concurrent puts 10-30 µs of CPU a write (docs/scaling.md).
  let timer: ReturnType<typeof setTimeout> | undefined
  let sending: Fiber.RuntimeFiber<void> | undefined
  let closed = false
  const check = () => {
    timer = undefined
    if (closed || sending !== undefined || !uncovered()) return
    sending = runFork(Effect.ensuring(send, Effect.sync(() => {
      sending = undefined
      arm()
    })))
  }
  const arm = () => {
    if (timer === undefined && !closed && uncovered()) timer = setTimeout(check, 1)
  }
  // A program that ends right after its last write still sends the hint; one on its way is waited for.
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closed = true
      clearTimeout(timer)
      const inFlight = sending === undefined ? Effect.void : Fiber.await(sending)
      return Effect.ignore(Effect.timeout(Effect.zipRight(inFlight, Effect.suspend(() => uncovered() ? send : Effect.void)), Duration.seconds(2)))
    })
  )
  const notify = Effect.sync(() => {
    requested++
    arm()
  })
  return {
    notify,
    carrying: (statement) =>
      Effect.suspend(() => {
        if (carrier) return Effect.tap(statement(false), () => notify)
        carrier = true
        const through = requested
        return Effect.onExit(statement(true), (exit) =>
          Effect.sync(() => {
            carrier = false
            if (Exit.isSuccess(exit)) covered = Math.max(covered, through)
            arm()
          }))
      })
  }
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
