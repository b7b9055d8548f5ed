/**
 * The change feed relayed into a NATS JetStream stream, for consumers on
 * other machines or in other languages (docs/scaling-out.md).
 *
 * The relay is a durable consumer of the feed (`DocumentChanges.consume`):
 * one process at a time holds its lease, a second waits. Each batch is
 * published to the stream, subject `<prefix>.<workspace_id>.<kind>.<op>`,
 * the change as JSON with its cursor, header `Nats-Msg-Id` = the cursor; the
 * checkpoint moves only after JetStream acknowledged every message of the
 * batch. A NATS outage fails the batch, and `consume` retries it from the
 * checkpoint with backoff.
 *
 * The stream holds each change once, in feed order: every publish of a batch
 * carries the stream sequence it expects to follow (`Nats-Expected-Last-Sequence`),
 * so a message lost in flight makes every later one of its batch fail instead
 * of overtaking it; and a batch that is replayed (after a crash, or a failed
 * batch) first skips what the stream's last message says is already there.
 * The server's duplicate window (`Nats-Msg-Id`) is a second guard, not the
 * only one.
 *
 * @since 0.1.0
 */
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { SqlClient } from "@effect/sql"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { Change } from "./Change.js"
import * as DocumentChanges from "./DocumentChanges.js"
import type { CursorExpired, DatabaseError, FeedDiverged, InvalidCursor, InvalidInput } from "./Errors.js"
import * as Cursor from "./internal/cursor.js"
import { decodeInput } from "./internal/validation.js"

// ---------------------------------------------------------------------------
// Options and errors
// ---------------------------------------------------------------------------

// JetStream's rules: a stream name is one subject token; the prefix is one or more plain tokens.
const StreamName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/, { message: () => "must be 1 to 64 letters, digits, '-' or '_'" })
)
const SubjectPrefix = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
    message: () => "must be dot-separated tokens of letters, digits, '-' or '_' (no wildcards, no spaces)"
  })
)

/**
 * The relay's settings, checked when the service is built.
 *
 * @since 0.1.0
 */
export const Options = Schema.Struct({
  /** NATS server URL(s), comma-separated. */
  servers: Schema.String.pipe(Schema.nonEmptyString({ message: () => "must name at least one NATS server" })),
  /** The JetStream stream; created (subjects `<subjectPrefix>.>`) if missing. */
  stream: StreamName,
  subjectPrefix: SubjectPrefix,
  /** The durable consumer's name in `document_consumers`. Default "jetstream-relay". */
  consumer: Schema.optional(Schema.String.pipe(Schema.nonEmptyString({ message: () => "must not be empty" }))),
  /** Most changes per batch (and so per checkpoint). Default 500. */
  maxBatch: Schema.optional(Schema.Int.pipe(Schema.between(1, 10_000, { message: () => "must be an integer from 1 to 10000" }))),
  /** Where a relay without a checkpoint starts. Default "beginning". */
  startFrom: Schema.optional(Schema.Literal("beginning", "now")),
  /** How long a publish waits for its PubAck. Default 5 s. */
  publishTimeout: Schema.optional(Schema.DurationFromSelf),
  /** The feed lease (see `DocumentChanges.ConsumeRequest`). Default 10 s. */
  leaseDuration: Schema.optional(Schema.DurationFromSelf),
  /** How often the relay logs its position and lag. Default 10 s. */
  lagInterval: Schema.optional(Schema.DurationFromSelf),
  /** The duplicate window of a stream the relay creates. Default 2 minutes (JetStream's own). */
  duplicateWindow: Schema.optional(Schema.DurationFromSelf)
})

/**
 * @since 0.1.0
 */
export type Options = typeof Options.Encoded

/**
 * Checks settings without building the relay (`make` checks them too): a
 * typed error naming the field.
 *
 * @since 0.1.0
 */
export const validate: (input: Options) => Effect.Effect<typeof Options.Type, InvalidInput> = decodeInput(Options)

/**
 * NATS refused or did not answer (unreachable, timed out, stream missing);
 * the batch is retried from the checkpoint.
 *
 * @since 0.1.0
 */
export class RelayError extends Schema.TaggedError<RelayError>()("RelayError", {
  message: Schema.String
}) {}

/**
 * What this relay process has done since it was built.
 *
 * @since 0.1.0
 */
export interface Status {
  /** Messages this process stored in the stream (duplicates not counted). */
  readonly published: number
  /** Batches that failed (and were retried). */
  readonly failures: number
  readonly lastError: string | null
  /** The cursor of the last change known to be in the stream, once known. */
  readonly position: string | null
}

/**
 * @since 0.1.0
 */
export class JetStreamRelay extends Context.Tag("effect-docstore/JetStreamRelay")<JetStreamRelay, {
  /**
   * Relays the feed until interrupted; waits while another process holds the
   * relay's lease. Fails only as `consume` does (a reset cursor, a lost lease,
   * a read-only server); NATS failures are retried.
   */
  readonly run: Effect.Effect<never, InvalidInput | InvalidCursor | CursorExpired | DocumentChanges.LeaseLost | FeedDiverged | DatabaseError>
  readonly status: Effect.Effect<Status>
}>() {}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/** The message body: the change as JSON, with its cursor. */
export const payload = (change: Change, cursor: string): string =>
  JSON.stringify({
    cursor,
    id: String(change.id),
    txId: String(change.txId),
    workspaceId: change.workspaceId,
    documentId: change.documentId,
    kind: change.kind,
    op: change.op,
    versionNo: change.versionNo,
    changedAt: change.changedAt.toISOString()
  })

/**
 * The subject of a change: `<prefix>.<workspace_id>.<kind>.<op>`.
 *
 * @since 0.1.0
 */
export const subject = (prefix: string, change: Pick<Change, "workspaceId" | "kind" | "op">): string =>
  `${prefix}.${change.workspaceId}.${change.kind}.${change.op}`

/** The end of the stream: its last sequence, and the feed position of its last message (ours, this epoch). */
interface Tail {
  readonly seq: number
  readonly position: Cursor.Position | null
}

const messageOf = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

/**
 * The relay's Effect metrics, updated by `run`: changes stored, and (every
 * `lagInterval`) how far behind the feed head it is.
 *
 * @since 0.1.0
 */
export const metrics = {
  published: Metric.counter("docstore_relay_published", { description: "changes stored in JetStream" }),
  lagChanges: Metric.gauge("docstore_relay_lag_changes", { description: "committed changes not yet relayed" }),
  lagSeconds: Metric.gauge("docstore_relay_lag_seconds", { description: "age of the oldest change not yet relayed" })
}

// Backoff for NATS while it is unreachable at start; batches are retried by `consume` itself.
const reconnect = Schedule.exponential(Duration.millis(100), 2).pipe(
  Schedule.either(Schedule.spaced(Duration.seconds(5))),
  Schedule.jittered
)

/** Retries for ever (so the error cannot arrive). */
const untilItWorks = <A, R>(effect: Effect.Effect<A, RelayError, R>): Effect.Effect<A, never, R> =>
  Effect.retry(effect, reconnect).pipe(Effect.orDie)

/** Creates the stream if missing; reads where it ends. */
const streamTail = async (jsm: JetStreamManager, options: typeof Options.Type, epoch: string): Promise<Tail> => {
  const info = await jsm.streams.info(options.stream).catch(async (cause) => {
    if ((cause as { name?: string }).name !== "StreamNotFoundError") throw cause
    return jsm.streams.add({
      name: options.stream,
      subjects: [`${options.subjectPrefix}.>`],
      duplicate_window: Duration.toMillis(options.duplicateWindow ?? Duration.minutes(2)) * 1_000_000
    })
  })
  const seq = info.state.last_seq
  if (info.state.messages === 0) return { seq, position: null }
  const last = await jsm.streams.getMessage(options.stream, { seq })
  const cursor = last === null ? Either.left("gone") : Cursor.decode(last.header.get("Nats-Msg-Id"))
  // Another epoch's cursor (the feed was recreated) says nothing about this one's changes.
  return { seq, position: Either.isRight(cursor) && cursor.right.epoch === epoch ? cursor.right : null }
}

/** Committed changes after a position (below the horizon), and the age of the oldest of them. */
const behind = (sql: SqlClient.SqlClient, position: Cursor.Position) =>
  sql<{ changes: bigint; seconds: number | null }>`
    SELECT count(*) AS changes, extract(epoch FROM now() - min(changed_at))::float8 AS seconds
    FROM (SELECT changed_at FROM document_changes
          WHERE (tx_id, id) > (${String(position.txId)}::xid8, ${position.id})
            AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
          LIMIT 1000000) behind`.pipe(Effect.map(([row]) => row!))

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export const make = (input: Options): Effect.Effect<
  Context.Tag.Service<JetStreamRelay>,
  InvalidInput,
  DocumentChanges.DocumentChanges | SqlClient.SqlClient
> =>
  Effect.gen(function*() {
    const options = yield* validate(input)
    const feed = yield* DocumentChanges.DocumentChanges
    const sql = yield* SqlClient.SqlClient
    const consumer = options.consumer ?? "jetstream-relay"
    const timeout = Duration.toMillis(options.publishTimeout ?? Duration.seconds(5))
    const status: { -readonly [K in keyof Status]: Status[K] } = { published: 0, failures: 0, lastError: null, position: null }

    const attempt = <A>(what: string, body: () => Promise<A>) =>
      Effect.tryPromise({ try: body, catch: (cause) => new RelayError({ message: `${what}: ${messageOf(cause)}` }) })

    const connectNats = Effect.acquireRelease(
      attempt(`connecting to NATS at ${options.servers}`, () =>
        // Reconnects for ever: an outage fails batches (which are retried), never the relay.
        connect({ servers: options.servers.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250, name: `docstore-relay ${consumer}` })
      ).pipe(
        Effect.tapError((error) => Effect.logWarning(`relay: ${error.message}; retrying`)),
        untilItWorks
      ),
      (nc) => Effect.promise(() => nc.close()).pipe(Effect.timeoutOption(Duration.seconds(2)))
    )

    const relay = (js: JetStreamClient, jsm: JetStreamManager, epoch: string) => {
      const encode = Cursor.encoder(epoch)
      const readTail = () => streamTail(jsm, options, epoch)
      // Unknown at start and after any failure: then read from the stream itself.
      let tail: Tail | undefined
      const publishAll = async (changes: ReadonlyArray<Change>) => {
        tail ??= await readTail()
        const start = tail
        const fresh = start.position === null ? changes : changes.filter((change) => Cursor.compare(change, start.position!) > 0)
        if (fresh.length === 0) return 0
        // Pipelined, each expecting its predecessor's sequence: one lost in flight fails all after it.
        const acks = await Promise.allSettled(fresh.map((change, i) => {
          const cursor = encode(change)
          return js.publish(subject(options.subjectPrefix, change), payload(change, cursor), {
            msgID: cursor,
            expect: { lastSequence: start.seq + i },
            timeout
          })
        }))
        const failed = acks.find((ack) => ack.status === "rejected")
        if (failed !== undefined) throw failed.reason
        const last = acks[acks.length - 1] as PromiseFulfilledResult<{ seq: number }>
        tail = { seq: last.value.seq, position: fresh[fresh.length - 1]! }
        return fresh.length
      }
      return (changes: ReadonlyArray<Change>) =>
        attempt(`publishing ${changes.length} change(s) to stream ${options.stream}`, () => publishAll(changes)).pipe(
          Effect.tap((count) =>
            Effect.sync(() => {
              status.published += count
              status.position = tail?.position ? encode(tail.position) : status.position
            }).pipe(Effect.zipRight(Metric.incrementBy(metrics.published, count)))
          ),
          Effect.tapError((error) =>
            Effect.zipRight(
              Effect.sync(() => {
                tail = undefined
                status.failures++
                status.lastError = error.message
              }),
              Effect.logWarning(`relay: ${error.message}; retrying from the checkpoint`)
            )
          ),
          Effect.asVoid
        )
    }

    const reportLag = Effect.suspend(() => {
      if (status.position === null) return Effect.void
      const position = Cursor.decode(status.position)
      if (Either.isLeft(position)) return Effect.void
      return behind(sql, position.right).pipe(
        Effect.flatMap(({ changes, seconds }) =>
          Effect.all([
            Metric.set(metrics.lagChanges, Number(changes)),
            Metric.set(metrics.lagSeconds, seconds ?? 0),
            Effect.logInfo(
              `relay: at ${status.position}, ${changes} change(s) and ${(seconds ?? 0).toFixed(1)} s behind the feed head; ` +
                `${status.published} published by this process`
            )
          ])
        ),
        Effect.catchAll((error) => Effect.logWarning(`relay: lag not measured: ${error.message}`))
      )
    })

    const run = Effect.scoped(Effect.gen(function*() {
      const current = yield* Effect.retry(feed.currentCursor, reconnect)
      const { epoch } = Either.getOrThrow(Cursor.decode(current))
      const nc: NatsConnection = yield* connectNats
      const js = jetstream(nc, { timeout })
      const jsm = yield* attempt("JetStream", () => jetstreamManager(nc, { timeout })).pipe(
        Effect.tapError((error) => Effect.logWarning(`relay: ${error.message}; retrying`)),
        untilItWorks
      )
      yield* Effect.logInfo(`relay: connected to NATS at ${options.servers}; stream ${options.stream}, subjects ${options.subjectPrefix}.>`)
      yield* Effect.forkScoped(
        Effect.repeat(reportLag, Schedule.spaced(options.lagInterval ?? Duration.seconds(10))).pipe(
          Effect.delay(options.lagInterval ?? Duration.seconds(10))
        )
      )
      return yield* feed.consume({
        name: consumer,
        handler: relay(js, jsm, epoch),
        maxBatch: options.maxBatch ?? 500,
        startFrom: options.startFrom ?? "beginning",
        leaseDuration: options.leaseDuration
      })
    }))

    return { run, status: Effect.sync(() => ({ ...status })) }
  })

/**
 * Needs the feed (`DocumentChanges.layer`) and the database client; connects
 * to NATS only when `run` runs.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<JetStreamRelay, InvalidInput, DocumentChanges.DocumentChanges | SqlClient.SqlClient> =>
  Layer.effect(JetStreamRelay, make(options))

/**
 * The settings from the environment: `NATS_URL` (default
 * `nats://127.0.0.1:4222`), `NATS_STREAM` (default `DOCSTORE_CHANGES`),
 * `NATS_SUBJECT_PREFIX` (default `docstore.changes`), `RELAY_MAX_BATCH`
 * (default 500), `RELAY_LEASE_DURATION` (default 10 seconds).
 *
 * @since 0.1.0
 */
export const config: Config.Config<Options> = Config.all({
  servers: Config.string("NATS_URL").pipe(Config.withDefault("nats://127.0.0.1:4222")),
  stream: Config.string("NATS_STREAM").pipe(Config.withDefault("DOCSTORE_CHANGES")),
  subjectPrefix: Config.string("NATS_SUBJECT_PREFIX").pipe(Config.withDefault("docstore.changes")),
  maxBatch: Config.integer("RELAY_MAX_BATCH").pipe(Config.withDefault(500)),
  leaseDuration: Config.duration("RELAY_LEASE_DURATION").pipe(Config.withDefault(Duration.seconds(10)))
})

/**
 * @since 0.1.0
 */
export const layerConfig = Layer.unwrapEffect(Effect.map(config, layer))

/**
 * Runs the relay of the context until interrupted.
 *
 * @since 0.1.0
 */
export const run = Effect.flatMap(JetStreamRelay, (relay) => relay.run)
