/**
 * `docstore health [--json]`: the change feed's health (src/FeedHealth.ts).
 * Exit code 0 when healthy, 1 when not (the problems on stderr).
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Database from "../Database.js"
import type * as FeedGuard from "../FeedGuard.js"
import * as FeedHealth from "../FeedHealth.js"
import * as Output from "./output.js"
import { consumerRecord, consumerRows } from "./consumers.js"

/**
 * The feed is not healthy; `message` lists why. Exit code 1.
 */
export class Unhealthy extends Schema.TaggedError<Unhealthy>()("Unhealthy", { message: Schema.String }) {}

/** The verdict as plain data (the error inside `Diverged` as its fields). */
export const verdictRecord = (verdict: FeedGuard.Verdict) =>
  verdict._tag === "Diverged"
    ? {
      verdict: "Diverged",
      position: verdict.error.position,
      storedTxId: verdict.error.storedTxId,
      serverNextTxId: verdict.error.serverNextTxId,
      message: verdict.error.message
    }
    : verdict._tag === "Adopted"
    ? { verdict: "Adopted", cluster: verdict.cluster, previousCluster: verdict.previousCluster }
    : verdict._tag === "Unchecked"
    ? { verdict: "Unchecked", reason: verdict.reason }
    : { verdict: "Healthy", cluster: verdict.cluster }

const healthRecord = (health: FeedHealth.Health) => ({
  type: "health",
  healthy: health.healthy,
  problems: health.problems,
  guard: verdictRecord(health.verdict),
  epoch: health.epoch,
  head: health.head && { id: health.head.id, txId: health.head.txId, changedAt: health.head.changedAt.toISOString() },
  horizon: health.horizon,
  retentionHorizon: health.retentionHorizon,
  oldestTransaction: health.oldestTransaction && { ...health.oldestTransaction },
  consumers: health.consumers.map(consumerRecord)
})

const healthLines = (health: FeedHealth.Health): Array<string> => {
  const open = health.oldestTransaction
  return [
    `feed ${health.healthy ? "healthy" : "NOT healthy"}; guard: ${health.verdict._tag}; epoch ${health.epoch}`,
    `head: ${health.head ? `change ${health.head.id} (transaction ${health.head.txId}) at ${health.head.changedAt.toISOString()}` : "no changes"}`,
    `horizon: ${health.horizon}${health.retentionHorizon ? `; retention horizon ${health.retentionHorizon}` : ""}`,
    `oldest open transaction: ${
      open
        ? `backend ${open.pid} (${open.applicationName || "no application name"}, database ${open.database}), ` +
          `open ${open.ageSeconds.toFixed(1)} s`
        : "none"
    }`,
    ...(health.consumers.length === 0 ? ["consumers: none"] : consumerRows(health.consumers)),
    ...health.problems.map((problem) => `problem: ${problem}`)
  ]
}

const secondsOption = (name: string, what: string) =>
  Options.integer(name).pipe(
    Options.withDefault(300),
    Options.withDescription(`Unhealthy when ${what} (seconds, default 300).`)
  )

export const command = Command.make(
  "health",
  {
    json: Options.boolean("json").pipe(Options.withDescription("Print one JSON object.")),
    maxLag: secondsOption("max-lag-seconds", "a consumer's oldest unprocessed change is older than this"),
    maxTransactionAge: secondsOption("max-transaction-seconds", "a transaction holds the horizon back longer than this")
  },
  (options) =>
    Effect.gen(function*() {
      const health = yield* FeedHealth.health({
        maxLag: Duration.seconds(options.maxLag),
        maxTransactionAge: Duration.seconds(options.maxTransactionAge)
      })
      yield* options.json
        ? Console.log(Output.jsonLine(healthRecord(health)))
        : Effect.forEach(healthLines(health), (line) => Console.log(line), { discard: true })
      if (!health.healthy) return yield* new Unhealthy({ message: health.problems.join("; ") })
    })
).pipe(
  Command.withDescription("Report the change feed's health: head, horizon, what holds it back, consumers' lag, the guard's verdict. Exit 1 when unhealthy."),
  Command.provide(Database.layerConfig)
)
