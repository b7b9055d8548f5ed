/**
 * The feed guard (src/FeedGuard.ts is its public face): the facts it reads,
 * the rule (`judge`), and the hooks of `Documents`' writes and
 * `DocumentChanges`' streams (`of`, `admit`), cached per client.
 *
 * Not checked per write: a healthy verdict is kept for `recheckInterval`,
 * and dropped whenever the pool opens a connection (a restarted server, a
 * failover, a database swapped under the URL: the next operation checks
 * again). Within that, a guarded operation costs one clock read. A diverged
 * verdict is kept for a second only, so operations resume soon after
 * `repair-feed`, without every failing write querying the server.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CursorExpired, FeedDiverged } from "../../Errors.js"
import * as Cursor from "../cursor.js"
import pg from "pg"
import * as Pool from "../pg/pool.js"

/**
 * What `document_feed_facts()` (migration 0011) reports, in one snapshot.
 */
export class Facts extends Schema.Class<Facts>("Facts")({
  epoch: Schema.String,
  recordedCluster: Schema.NullOr(Schema.String),
  cluster: Schema.String,
  /** The server's next transaction id: `pg_snapshot_xmax(pg_current_snapshot())`. */
  xmax: Schema.BigInt,
  newestTxId: Schema.NullOr(Schema.BigInt),
  horizonTxId: Schema.NullOr(Schema.BigInt),
  /** The highest `xmax` the library has seen on this feed's cluster. */
  seenXmax: Schema.NullOr(Schema.BigInt),
  inRecovery: Schema.Boolean
}) {}

/**
 * A durable consumer's checkpoint, decoded.
 */
export interface Checkpoint {
  readonly name: string
  readonly cursor: Cursor.Cursor
}

export type Verdict = Data.TaggedEnum<{
  /** `xmax`: the server's next transaction id when checked. */
  Healthy: { readonly cluster: string; readonly xmax: bigint }
  Adopted: { readonly previousCluster: string | null; readonly cluster: string; readonly xmax: bigint }
  Diverged: { readonly error: FeedDiverged }
  /** The database has no `document_feed_facts()` yet (migration 0011 not run): nothing is refused. */
  Unchecked: { readonly reason: string }
}>

export const Verdict = Data.taggedEnum<Verdict>()

const decodeFacts = Schema.decodeUnknown(Facts)

/**
 * The facts and the checkpoints of the current epoch. Reads only.
 */
export const facts: Effect.Effect<{ readonly facts: Facts; readonly checkpoints: ReadonlyArray<Checkpoint> }, SqlError, SqlClient.SqlClient> =
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // The checkpoints first: the server's counter, read after them, lies above every one of them. (Read the
    // other way round, a consumer that checkpoints in between seems to be ahead of the server.)
    const consumers = yield* sql<{ name: string; cursor: string }>`SELECT name, cursor FROM document_consumers`
    const [row] = yield* sql`SELECT * FROM document_feed_facts()`
    // A row that does not decode is a bug of ours (or a database without migration 0011): a defect.
    const facts = yield* Effect.orDie(decodeFacts(row))
    const checkpoints = consumers.flatMap(({ cursor, name }) =>
      Either.match(Cursor.decode(cursor), {
        onLeft: () => [],
        onRight: (decoded) => decoded.epoch === facts.epoch ? [{ name, cursor: decoded }] : []
      })
    )
    return { facts, checkpoints }
  })

/**
 * The verdict on the facts (pure: the rule, in one place).
 */
export const judge = (facts: Facts, checkpoints: ReadonlyArray<Checkpoint>): Verdict => {
  // Transaction ids below xmax have been handed out; a position at (xmax, 0) is "everything before xmax".
  const next: Cursor.Position = { txId: facts.xmax, id: 0n }
  const positions: Array<readonly [string, Cursor.Position]> = []
  if (facts.newestTxId !== null) positions.push(["newest change", { txId: facts.newestTxId, id: 1n }])
  if (facts.horizonTxId !== null) positions.push(["retention horizon", { txId: facts.horizonTxId, id: 1n }])
  if (facts.seenXmax !== null) positions.push(["watermark", { txId: facts.seenXmax, id: 0n }])
  for (const { cursor, name } of checkpoints) positions.push([`consumer ${name}`, cursor])
  const ahead = positions.filter(([, position]) => Cursor.compare(position, next) > 0)
    .sort(([, a], [, b]) => Cursor.compare(b, a))[0]
  if (ahead !== undefined) {
    const [position, { txId }] = ahead
    return Verdict.Diverged({
      error: new FeedDiverged({
        position,
        storedTxId: String(txId),
        serverNextTxId: String(facts.xmax),
        message: `the change feed's ${position} is at transaction ${txId}, at or above this server's next ` +
          `transaction id ${facts.xmax}` +
          (facts.recordedCluster !== facts.cluster ? ` (and the feed was recorded on another cluster)` : "") +
          `: the database was copied into another cluster (a logical dump and restore?), and new changes would ` +
          `sort below the stored history and be missed. Run \`docstore repair-feed\` (FeedGuard.repair) to start ` +
          `a new feed epoch; consumers then refetch`
      })
    })
  }
  return facts.recordedCluster === facts.cluster
    ? Verdict.Healthy({ cluster: facts.cluster, xmax: facts.xmax })
    : Verdict.Adopted({ previousCluster: facts.recordedCluster, cluster: facts.cluster, xmax: facts.xmax })
}

/** The guard's function is missing: the database has not run migration 0011 (or has no schema at all). */
export const notInstalled = (error: SqlError): boolean =>
  ["42883", "42P01"].includes((error.cause as { code?: string } | undefined)?.code ?? "")

/**
 * The verdict, as `judge` gives it, recording what it saw: on a writable
 * server and outside the caller's transaction, the watermark is raised and an
 * adopted identity recorded (nothing is recorded for `Diverged`).
 */
export const check: Effect.Effect<Verdict, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const installed = yield* facts.pipe(Effect.map(Option.some), Effect.catchIf(notInstalled, () => Effect.succeedNone))
  // A library newer than the database's schema (the deploy runs migrate next) works as before the guard.
  if (Option.isNone(installed)) return Verdict.Unchecked({ reason: "the database has not run migration 0011 yet" })
  const found = installed.value
  const verdict = judge(found.facts, found.checkpoints)
  const inTransaction = Option.isSome(yield* Effect.serviceOption(SqlClient.TransactionConnection))
  if (verdict._tag !== "Diverged" && !found.facts.inRecovery && !inTransaction) {
    // Best effort: a role without EXECUTE on it (a hand-made grant set) loses only the watermark.
    yield* sql`SELECT document_feed_observe()`.pipe(
      Effect.catchAll((error) => Effect.logDebug("feed guard: could not record the watermark", error))
    )
  }
  return verdict
})

// ---------------------------------------------------------------------------
// The cache behind the services' hooks
// ---------------------------------------------------------------------------

/** How long a healthy verdict is trusted without a new connection. */
export const recheckInterval = 60_000
const divergedInterval = 1_000

export interface Guard {
  /** Succeeds when the feed's history continues on this server; else `FeedDiverged`. Guard: a clock read. */
  readonly guard: Effect.Effect<void, FeedDiverged | SqlError>
  /** Drops the cached verdict: the next guarded operation checks again. */
  readonly forget: () => void
  /**
   * A cursor to resume from must lie below the server's transaction counter; one past it (issued before a
   * restore to an earlier point, or on the original of a copy) fails with `CursorExpired { reason: "epoch" }`.
   */
  readonly admit: (cursor: Cursor.Position) => Effect.Effect<void, CursorExpired | SqlError>
}

const ahead = () =>
  new CursorExpired({
    reason: "epoch",
    message: "the cursor lies ahead of this server's transaction counter: it was issued on another copy of this " +
      "database (before a restore, or in another cluster), and what followed it is not here; " +
      "refetch: list the documents, then stream from the listing's cursor"
  })

// The check is read-mostly and idempotent: a pooled connection that died while idle (a restarted server,
// a killed backend) is retried once on a fresh one instead of failing the write that asked.
const lostConnection = (error: SqlError) => !(error.cause instanceof pg.DatabaseError)
const checkOnce = Effect.retry(check, { times: 1, while: lostConnection })

const guards = new WeakMap<SqlClient.SqlClient, Guard>()

const make = (sql: SqlClient.SqlClient, pool: Option.Option<pg.Pool>): Guard => {
  let healthyUntil = 0
  let diverged: { readonly error: FeedDiverged; readonly until: number } | undefined
  // Bumped by every new connection: a check that saw one open meanwhile is not trusted for long.
  let generation = 0
  const forget = () => {
    generation++
    healthyUntil = 0
    diverged = undefined
  }
  Option.map(pool, (pool) => pool.on("connect", forget))
  // The server's next transaction id when last looked at: a cursor below it was issued in this history.
  let knownXmax = 0n
  const semaphore = Effect.unsafeMakeSemaphore(1)
  const verify = Effect.suspend(() => {
    const now = Date.now()
    if (now < healthyUntil) return Effect.void
    if (diverged !== undefined && now < diverged.until) return Effect.fail(diverged.error)
    const seen = generation
    return Effect.flatMap(Effect.provideService(checkOnce, SqlClient.SqlClient, sql), (verdict) => {
      if (verdict._tag === "Diverged") {
        diverged = { error: verdict.error, until: Date.now() + divergedInterval }
        return Effect.fail(verdict.error)
      }
      diverged = undefined
      if (verdict._tag !== "Unchecked" && verdict.xmax > knownXmax) knownXmax = verdict.xmax
      // Unchecked: looked at again soon, as migrate may be about to install the guard.
      const trusted = verdict._tag === "Unchecked" ? divergedInterval : recheckInterval
      if (seen === generation) healthyUntil = Date.now() + trusted
      return Effect.void
    })
  })
  const guarded = semaphore.withPermits(1)(verify)
  // Only a cursor at or past the known counter costs a query: one from a newer history than this server's.
  const admit = (cursor: Cursor.Position) =>
    cursor.txId < knownXmax ? Effect.void : Effect.flatMap(
      sql<{ xmax: string }>`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax`,
      ([row]) => {
        const xmax = BigInt(row!.xmax)
        if (xmax > knownXmax) knownXmax = xmax
        return Cursor.compare(cursor, { txId: xmax, id: 0n }) > 0 ? Effect.fail(ahead()) : Effect.void
      }
    )
  return { guard: Effect.suspend(() => Date.now() < healthyUntil ? Effect.void : guarded), forget, admit }
}

/**
 * The guard of `sql`'s feed, one per client, shared by every service on it (a verdict one of them reached
 * holds for all). With the pool `Database.layer` built (`Pool`), a new connection drops the verdict.
 */
export const of = (sql: SqlClient.SqlClient): Effect.Effect<Guard> =>
  Effect.map(Pool.of(sql), (pool) => {
    let entry = guards.get(sql)
    if (entry === undefined) {
      entry = make(sql, pool)
      guards.set(sql, entry)
    }
    return entry
  })

/** After a repair: this process checks again at its next guarded operation. */
export const forget = (sql: SqlClient.SqlClient): void => guards.get(sql)?.forget()
