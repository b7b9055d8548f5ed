/**
 * `docstore consumers [--json]`: each durable consumer with its checkpoint,
 * lag and lease holder (the query `docstore health` shares).
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Database from "../Database.js"
import * as FeedHealth from "../FeedHealth.js"
import * as Output from "./output.js"

export const consumerRecord = (consumer: FeedHealth.ConsumerStatus) => ({
  type: "consumer",
  ...consumer,
  checkpointedAt: consumer.checkpointedAt.toISOString(),
  leaseUntil: consumer.leaseUntil?.toISOString() ?? null
})

export const consumerRows = (consumers: ReadonlyArray<FeedHealth.ConsumerStatus>) =>
  Output.table(
    ["CONSUMER", "STATE", "LAG", "LAG S", "LEASE HOLDER", "CHECKPOINTED", "CHECKPOINT"],
    consumers.map((consumer) => [
      consumer.name,
      consumer.state,
      consumer.lagChanges === null ? "-" : String(consumer.lagChanges),
      consumer.lagSeconds === null ? "-" : consumer.lagSeconds.toFixed(1),
      consumer.leaseHolder ?? "-",
      consumer.checkpointedAt.toISOString(),
      consumer.checkpoint
    ])
  )

export const command = Command.make(
  "consumers",
  { json: Options.boolean("json").pipe(Options.withDescription("Print one JSON object a line.")) },
  (options) =>
    Effect.gen(function*() {
      const consumers = yield* FeedHealth.consumers
      const lines = options.json
        ? consumers.map((consumer) => Output.jsonLine(consumerRecord(consumer)))
        : consumers.length === 0
        ? ["no durable consumers"]
        : consumerRows(consumers)
      yield* Effect.forEach(lines, (line) => Console.log(line), { discard: true })
    })
).pipe(
  Command.withDescription("List durable consumers: checkpoint, lag (changes and seconds behind the feed) and lease holder."),
  Command.provide(Database.layerConfig)
)
