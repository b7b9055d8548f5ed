/**
 * The embedded default: a PostgreSQL server kept under a directory of the
 * project (`.docstore/` by default), started on first use and shared by every
 * process that points at the same directory.
 *
 * The server runs detached (`pg_ctl start`), so a second terminal reuses it
 * while the first is still running, and the next run starts in milliseconds.
 * `stop` shuts it down.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Embedded from "./internal/embedded.js"

/**
 * The embedded server could not be initialised or started.
 *
 * @since 0.1.0
 */
export class EmbeddedPostgresError extends Schema.TaggedError<EmbeddedPostgresError>()(
  "EmbeddedPostgresError",
  { directory: Schema.String, message: Schema.String }
) {}

/**
 * A running embedded server.
 *
 * @since 0.1.0
 */
export interface Server {
  readonly directory: string
  readonly port: number
  readonly url: Redacted.Redacted<string>
  /** `false` when another process had already started it. */
  readonly startedHere: boolean
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Extra `postgres -c name=value` settings, applied when this call starts the server. */
  readonly settings?: Readonly<Record<string, string>> | undefined
  /** Name of the database to create on first start and connect to. */
  readonly database?: string | undefined
}

/**
 * The default directory, relative to the working directory.
 *
 * @since 0.1.0
 */
export const defaultDirectory = ".docstore"

/**
 * Starts the server under `directory`, or reuses the one already running there.
 *
 * @since 0.1.0
 */
export const ensure = (directory: string, options: Options = {}): Effect.Effect<Server, EmbeddedPostgresError> =>
  Effect.tryPromise({
    try: () => Embedded.ensure(directory, options),
    catch: (cause) => new EmbeddedPostgresError({ directory, message: messageOf(cause) })
  }).pipe(Effect.map((server) => ({ ...server, url: Redacted.make(server.url) })))

/**
 * Stops the server under `directory` if it runs. Data stays.
 *
 * @since 0.1.0
 */
export const stop = (directory: string): Effect.Effect<void, EmbeddedPostgresError> =>
  Effect.tryPromise({
    try: () => Embedded.stop(directory),
    catch: (cause) => new EmbeddedPostgresError({ directory, message: messageOf(cause) })
  })

const messageOf = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)
