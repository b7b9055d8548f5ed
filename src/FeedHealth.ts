/**
 * The change feed's health, as an operator checks it (`docstore health`):
 * where the feed is, what holds its horizon back, how far each durable
 * consumer is behind, and the feed guard's verdict. Reads only; run it as the
 * tables' owner (under tenant isolation the runtime role sees no changes
 * without a workspace). It sets the gauges of `FeedMetrics`; `monitor` keeps
 * them current. See docs/change-feed.md, "Health and metrics".
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { DatabaseError } from "./Errors.js"
import * as FeedMetrics from "./FeedMetrics.js"
import * as Cursor from "./internal/cursor.js"
import * as Consumers from "./internal/feed/consumers.js"
import * as Guard from "./internal/feed/guard.js"
import { databaseError } from "./internal/sqlError.js"

/**
 * @since 0.1.0
 */
export type ConsumerStatus = Consumers.ConsumerStatus

/**
 * The oldest open transaction that has a transaction id: the feed's horizon
 * (`pg_snapshot_xmin`) cannot pass it, so every change committed after it
 * began waits until it ends. Transaction ids are cluster-wide: it may be in
 * another database.
 *
 * @since 0.1.0
 */
export class OpenTransaction extends Schema.Class<OpenTransaction>("OpenTransaction")({
  pid: Schema.Number,
  ageSeconds: Schema.Number,
  applicationName: Schema.String,
  database: Schema.String,
  state: Schema.NullOr(Schema.String)
}) {}

/**
 * The newest change stored.
 *
 * @since 0.1.0
 */
export class Head extends Schema.Class<Head>("Head")({
  id: Schema.BigIntFromSelf,
  txId: Schema.BigInt,
  changedAt: Schema.DateFromSelf
}) {}

/**
 * @since 0.1.0
 */
export interface Health {
  /** No problem found. */
  readonly healthy: boolean
  /** What is wrong, one sentence each. */
  readonly problems: ReadonlyArray<string>
  readonly verdict: Guard.Verdict
  readonly epoch: string
  readonly head: Head | null
  /** The read horizon (every transaction below it has ended) as a cursor: "now". */
  readonly horizon: string
  /** The retention horizon as a cursor, if `prune` set one. */
  readonly retentionHorizon: string | null
  readonly oldestTransaction: OpenTransaction | null
  readonly consumers: ReadonlyArray<ConsumerStatus>
}

/**
 * When `health` calls the feed unhealthy. Defaults: 5 minutes each.
 *
 * @since 0.1.0
 */
export interface Thresholds {
  /** A consumer whose oldest unprocessed change is older than this. */
  readonly maxLag?: Duration.DurationInput | undefined
  /** An open transaction holding the horizon back for longer than this. */
  readonly maxTransactionAge?: Duration.DurationInput | undefined
}

const decodeHead = Schema.decodeUnknown(Schema.Array(Head))
const decodeTransaction = Schema.decodeUnknown(Schema.Array(OpenTransaction))
const seconds = (duration: Duration.DurationInput | undefined) =>
  Duration.toSeconds(Duration.decode(duration ?? Duration.minutes(5)))

/**
 * Durable consumers with their checkpoint, lag and lease holder (`docstore consumers`).
 *
 * @since 0.1.0
 */
export const consumers: Effect.Effect<ReadonlyArray<ConsumerStatus>, DatabaseError, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const [feed] = yield* sql<{ epoch: string; horizonTxId: string | null; horizonId: bigint | null }>`
      SELECT epoch, horizon_tx_id::text AS horizon_tx_id, horizon_id FROM document_feed`
    const horizon = feed!.horizonTxId === null ? null : { txId: BigInt(feed!.horizonTxId), id: feed!.horizonId! }
    return yield* Consumers.statuses({ epoch: feed!.epoch, horizon })
  }
).pipe(Effect.mapError(databaseError))

const problemsOf = (health: Omit<Health, "healthy" | "problems">, thresholds: Thresholds): Array<string> => {
  const problems: Array<string> = []
  if (health.verdict._tag === "Diverged") problems.push(health.verdict.error.message)
  const open = health.oldestTransaction
  if (open !== null && open.ageSeconds > seconds(thresholds.maxTransactionAge)) {
    problems.push(
      `the transaction of backend ${open.pid}${open.applicationName ? ` (${open.applicationName})` : ""} in database ` +
        `${open.database} has been open for ${open.ageSeconds.toFixed(0)} s and holds the feed's horizon back`
    )
  }
  for (const consumer of health.consumers) {
    if (consumer.state !== "current") {
      problems.push(`consumer ${consumer.name}: its checkpoint is ${consumer.state}; its next start fails until it refetches`)
    } else if (consumer.lagSeconds! > seconds(thresholds.maxLag)) {
      problems.push(
        `consumer ${consumer.name} is ${consumer.lagChanges} change(s), ${consumer.lagSeconds!.toFixed(0)} s, behind the feed`
      )
    }
  }
  return problems
}

/**
 * The feed's health; also sets `FeedMetrics`' gauges.
 *
 * @since 0.1.0
 */
export const health = (thresholds: Thresholds = {}): Effect.Effect<Health, DatabaseError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const found = yield* Effect.catchIf(
      Guard.facts,
      Guard.notInstalled,
      () => new DatabaseError({ message: "the feed's health needs migration 0011 (the feed guard): run docstore migrate" })
    )
    const verdict = Guard.judge(found.facts, found.checkpoints)
    const head = yield* Effect.orDie(decodeHead(
      yield* sql`SELECT id, tx_id::text AS tx_id, changed_at FROM document_changes ORDER BY tx_id DESC, id DESC LIMIT 1`
    ))
    const [feed] = yield* sql<{ horizonId: bigint | null; xmin: string }>`
      SELECT horizon_id, pg_snapshot_xmin(pg_current_snapshot())::text AS xmin FROM document_feed`
    const epoch = found.facts.epoch
    const retention = found.facts.horizonTxId === null ? null : { txId: found.facts.horizonTxId, id: feed!.horizonId! }
    const [oldestTransaction] = yield* Effect.orDie(decodeTransaction(
      yield* sql`
        SELECT pid, extract(epoch FROM now() - xact_start)::float8 AS age_seconds,
               coalesce(application_name, '') AS application_name, coalesce(datname, '') AS database, state
        FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
        ORDER BY age(backend_xid) DESC LIMIT 1`
    ))
    const statuses = yield* Consumers.statuses({ epoch, horizon: retention })
    const report = {
      verdict,
      epoch,
      head: head[0] ?? null,
      horizon: Cursor.encode({ epoch, txId: BigInt(feed!.xmin), id: 0n }),
      retentionHorizon: retention === null ? null : Cursor.encode({ epoch, ...retention }),
      oldestTransaction: oldestTransaction ?? null,
      consumers: statuses
    }
    const problems = problemsOf(report, thresholds)
    yield* record(report)
    return { healthy: problems.length === 0, problems, ...report } satisfies Health
  }).pipe(Effect.catchIf((error): error is SqlError => error instanceof SqlError, (error) => Effect.fail(databaseError(error))))

const record = (report: Omit<Health, "healthy" | "problems">) =>
  Effect.all([
    Metric.set(FeedMetrics.diverged, report.verdict._tag === "Diverged" ? 1 : 0),
    Metric.set(FeedMetrics.stallSeconds, report.oldestTransaction?.ageSeconds ?? 0),
    Effect.forEach(report.consumers, (consumer) =>
      consumer.state === "current"
        ? Effect.zipRight(
          Metric.set(Metric.tagged(FeedMetrics.consumerLagChanges, "consumer", consumer.name), consumer.lagChanges!),
          Metric.set(Metric.tagged(FeedMetrics.consumerLagSeconds, "consumer", consumer.name), consumer.lagSeconds!)
        )
        : Effect.void, { discard: true })
  ], { discard: true })

/**
 * Runs `health` every `every` (default 30 s) until interrupted, so the gauges
 * stay current for an exporter; a failed round is logged and the next one runs.
 *
 * @since 0.1.0
 */
export const monitor = (
  options: Thresholds & { readonly every?: Duration.DurationInput | undefined } = {}
): Effect.Effect<never, never, SqlClient.SqlClient> =>
  health(options).pipe(
    Effect.catchAll((error) => Effect.logWarning("feed health check failed", error)),
    Effect.repeat(Schedule.spaced(options.every ?? Duration.seconds(30))),
    Effect.zipRight(Effect.never)
  )
