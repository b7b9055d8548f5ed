/**
 * A relay in a process of its own (to be SIGKILLed): DATABASE_URL names the
 * database, NATS_URL / NATS_STREAM / NATS_SUBJECT_PREFIX the stream; the
 * lease is short so that a killed process's lease expires quickly. Prints
 * "relaying" once it has connected.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Database from "../../src/Database.js"
import * as DocumentChanges from "../../src/DocumentChanges.js"
import * as JetStreamRelay from "../../src/JetStreamRelay.js"

const relay = Layer.unwrapEffect(Effect.map(JetStreamRelay.config, (options) =>
  JetStreamRelay.layer({ ...options, leaseDuration: Duration.seconds(2), maxBatch: 200 })))

const said = Logger.make(({ message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (text.includes("connected to NATS")) process.stdout.write("relaying\n")
  process.stderr.write(`${text}\n`)
})

await Effect.runPromise(
  JetStreamRelay.run.pipe(
    Effect.provide(relay.pipe(Layer.provideMerge(DocumentChanges.layer()), Layer.provideMerge(Database.layerConfig))),
    Effect.provide(Logger.replace(Logger.defaultLogger, said))
  )
)
