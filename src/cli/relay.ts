/**
 * `docstore relay`: runs the JetStream relay (src/JetStreamRelay.ts) until
 * interrupted. Settings from the environment (`NATS_URL`, `NATS_STREAM`,
 * `NATS_SUBJECT_PREFIX`, `RELAY_MAX_BATCH`, `RELAY_LEASE_DURATION`), flags win.
 * Its log lines (connection, lag, NATS failures) go to stderr.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Database from "../Database.js"
import * as DocumentChanges from "../DocumentChanges.js"
import * as JetStreamRelay from "../JetStreamRelay.js"

const stderrLogger = Logger.make(({ message }) => {
  process.stderr.write(`${Array.isArray(message) ? message.join(" ") : String(message)}\n`)
})

const flag = (name: string, description: string) =>
  Options.text(name).pipe(Options.optional, Options.withDescription(description))

/**
 * @since 0.1.0
 */
export const relay = Command.make(
  "relay",
  {
    natsUrl: flag("nats-url", "NATS server URL(s), comma-separated (default: NATS_URL, else nats://127.0.0.1:4222)."),
    stream: flag("stream", "The JetStream stream, created if missing (default: NATS_STREAM, else DOCSTORE_CHANGES)."),
    subjectPrefix: flag("subject-prefix", "Subjects are <prefix>.<workspace>.<kind>.<op> (default: NATS_SUBJECT_PREFIX, else docstore.changes)."),
    fromNow: Options.boolean("from-now").pipe(
      Options.withDescription("A relay without a checkpoint starts at now instead of the beginning of the feed.")
    )
  },
  (flags) =>
    Effect.gen(function*() {
      const configured = yield* JetStreamRelay.config
      const options: JetStreamRelay.Options = {
        ...configured,
        servers: Option.getOrElse(flags.natsUrl, () => configured.servers),
        stream: Option.getOrElse(flags.stream, () => configured.stream),
        subjectPrefix: Option.getOrElse(flags.subjectPrefix, () => configured.subjectPrefix),
        startFrom: flags.fromNow ? "now" : "beginning"
      }
      // Bad settings fail before anything connects.
      yield* JetStreamRelay.validate(options)
      return yield* JetStreamRelay.run.pipe(
        Effect.provide(JetStreamRelay.layer(options).pipe(
          Layer.provideMerge(DocumentChanges.layer()),
          Layer.provideMerge(Database.layerConfig)
        ))
      )
    })
).pipe(
  Command.withDescription(
    "Relay the change feed into a NATS JetStream stream until interrupted (one relay at a time holds the lease; others wait)."
  ),
  Command.provide(Logger.replace(Logger.defaultLogger, stderrLogger))
)
