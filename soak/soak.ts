/**
 * The soak engine: minutes of mixed load on one migrated database, with
 * faults injected, and the store's invariants checked continuously while it
 * runs (every `checkInterval`), not only at the end.
 *
 * Load, on two library runtimes ("processes") sharing the database:
 * - writers: `Documents.put` of new documents of every kind in several
 *   workspaces, next versions of documents they wrote, writes to keys all of
 *   them share, deletes, reads back through the library, listings; a write
 *   that fails with `DatabaseError` is retried with the same version id
 *   until it is settled (the idempotent retry tells whether it had applied);
 * - live streams: from "beginning", from "now", filtered by workspace (and
 *   kind); some stopped and restarted from their last cursor after a pause,
 *   sometimes longer than the prune age (they get `CursorExpired` and restart
 *   from a listing);
 * - durable consumers: several names, some stopped and restarted, one name
 *   run by both runtimes at once, handlers that fail now and then;
 * - a user-composed transaction now and then that writes only after waiting
 *   longer than the prune age;
 * - `prune({ olderThan })` with a short age, periodically;
 * - faults: `pg_terminate_backend` of the library's connections (all of them,
 *   or one) from a side connection, at random intervals; with
 *   `options.network` (a fault proxy in front of the second runtime) also
 *   connection resets, stalls (some longer than that runtime's statement
 *   timeout) and latency spikes.
 *
 * Invariants (`SoakReport.violations`, each counted and described):
 * - `acknowledged-readable`: every acknowledged put is in the database (its
 *   version id, document, number, workspace), and reads back through the
 *   library; a document is exempt once its deletion has begun;
 * - `versions-gapless`: every document has versions 1..n (so also version
 *   1), and a writer's consecutive writes to its document are acknowledged as
 *   n, n+1; a shared key never acknowledges one number twice;
 * - `idempotent-retry`: repeating a write with its version id returns the
 *   version first written, never a second one or a Conflict;
 * - `stream-order`: each stream (across its restarts from its cursor) yields
 *   changes in strictly increasing (tx_id, id), never one twice, cursors
 *   never going back, each change matching the stream's filter;
 * - `stream-complete`: at each check, the changes of `document_changes`
 *   matching the stream's filter between the last check and the stream's
 *   current cursor are exactly the ones it delivered (minus what prune
 *   deleted, and minus the range skipped by a restart from a listing);
 * - `caught-up-not-expired`: `CursorExpired` is counted, not a violation,
 *   unless the stream (or consumer) had already caught up with everything
 *   committed `pruneAge / 2` before;
 * - `prune-respects-age`: no change that an unfiltered stream delivered with
 *   a `changedAt` younger than the prune age lies at or below the horizon a
 *   prune returned;
 * - `consumer-at-least-once`: every change up to a consumer's checkpoint was
 *   handed to a handler of that name (successfully);
 * - `checkpoint-monotonic`: a consumer's checkpoint never goes back;
 * - `consumer-exclusive`: two handlers of one name never run at once;
 * - `no-defects`: every failure is a typed error;
 * - `no-hangs`: every operation finishes within `operationTimeout`; every
 *   live stream reaches what had committed `progressDeadline` earlier, and so
 *   does the checkpoint of every consumer name that has been running that
 *   long, whether or not those changes matched its filter (a quiet workspace,
 *   written less often than that, has a consumer of its own: without that
 *   rule its checkpoint could stay behind while it is caught up, then fall
 *   below the prune horizon).
 */
import { randomUUID } from "node:crypto"
import { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pg from "pg"
import type { Change } from "../src/Change.js"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as Cursor from "../src/internal/cursor.js"
import * as Migrations from "../src/Migrations.js"

// ---------------------------------------------------------------------------
// Options and report
// ---------------------------------------------------------------------------

export interface SoakOptions {
  /** An empty (or already migrated) database the soak may fill; it is migrated first. */
  readonly url: string
  readonly duration: Duration.DurationInput
  /** Writer fibers, split over the two runtimes. Default 6. */
  readonly writers?: number | undefined
  /** Default 4. */
  readonly workspaces?: number | undefined
  /** `prune({ olderThan })`. Default 20 s. */
  readonly pruneAge?: Duration.DurationInput | undefined
  /** Default 4 s. */
  readonly pruneInterval?: Duration.DurationInput | undefined
  /** A fault every [min, max] milliseconds (uniform). Default [1000, 5000]. */
  readonly faultInterval?: readonly [number, number] | undefined
  /** Default 2 s. */
  readonly checkInterval?: Duration.DurationInput | undefined
  /** The watchdog: any single operation taking longer is a hang. Default 30 s. */
  readonly operationTimeout?: Duration.DurationInput | undefined
  /** A live stream must reach what had committed this long ago. Default 30 s. */
  readonly progressDeadline?: Duration.DurationInput | undefined
  /**
   * Network faults for the second runtime, which then connects through it
   * (test/support/faultProxy.ts fits): cuts, stalls (some longer than that
   * runtime's 5 s statement timeout) and latency spikes join the
   * `pg_terminate_backend` faults.
   */
  readonly network?: NetworkFaults | undefined
  /** Progress lines (violations as they are found, a status line per check interval). */
  readonly log?: ((line: string) => void) | undefined
}

/** What the soak needs of a fault-injecting TCP proxy. */
export interface NetworkFaults {
  /** The same database URL, through the proxy. */
  readonly url: (databaseUrl: string) => string
  /** Resets every open connection. */
  readonly cut: () => void
  /** Forwards nothing (and resets nothing) until `resume`. */
  readonly stall: () => void
  readonly resume: () => void
  /** Delay per chunk, both directions; 0 removes it. */
  readonly setLatency: (millis: number) => void
}

export interface Violation {
  readonly invariant: string
  readonly description: string
  /** Seconds since the soak started. */
  readonly at: number
}

export interface SoakReport {
  readonly durationSeconds: number
  /** Operations done, by kind. */
  readonly operations: Readonly<Record<string, number>>
  /** Typed errors the operations got (expected under faults), by tag. */
  readonly typedErrors: Readonly<Record<string, number>>
  /** Change events delivered to live streams. */
  readonly changesDelivered: number
  /** Changes handed to consumer handlers that succeeded. */
  readonly changesHandled: number
  /** Faults injected (each terminating one or all library connections, or a network fault). */
  readonly faultsInjected: number
  readonly faultsByKind: Readonly<Record<string, number>>
  readonly backendsTerminated: number
  /** `CursorExpired` received by streams and consumers that were behind: acceptable, counted. */
  readonly cursorExpired: number
  /** Checks performed, by invariant. */
  readonly checks: Readonly<Record<string, number>>
  readonly violationCount: number
  readonly violationsByInvariant: Readonly<Record<string, number>>
  /** The first violations found (at most 50). */
  readonly violations: ReadonlyArray<Violation>
}

// ---------------------------------------------------------------------------
// Bookkeeping
// ---------------------------------------------------------------------------

type Position = Cursor.Position

const zero: Position = { txId: 0n, id: 0n }
const compare = Cursor.compare
const max = (a: Position | null, b: Position): Position => a === null || compare(b, a) > 0 ? b : a
const show = (p: Position | null) => p === null ? "-" : `(${p.txId},${p.id})`
const keyOf = (p: Position) => `${p.txId}:${p.id}`
const positionOfChange = (change: Change): Position => ({ txId: change.txId, id: change.id })
const decodeCursor = (cursor: string): Position | null => {
  const decoded = Cursor.decode(cursor)
  return decoded._tag === "Right" ? { txId: decoded.right.txId, id: decoded.right.id } : null
}

const random = (min: number, max_: number) => min + Math.random() * (max_ - min)
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(Math.random() * items.length)]!

class Tally {
  readonly counts: Record<string, number> = {}
  add(name: string, n = 1) {
    this.counts[name] = (this.counts[name] ?? 0) + n
  }
}

interface Filter {
  readonly workspaceId?: string | undefined
  readonly kind?: string | undefined
}

const filterSql = (filter: Filter, params: Array<unknown>) => {
  let clause = ""
  if (filter.workspaceId !== undefined) {
    params.push(filter.workspaceId)
    clause += ` AND workspace_id = $${params.length}`
  }
  if (filter.kind !== undefined) {
    params.push(filter.kind)
    clause += ` AND kind = $${params.length}`
  }
  return clause
}

const matchesFilter = (filter: Filter, change: Change) =>
  (filter.workspaceId === undefined || change.workspaceId === filter.workspaceId) &&
  (filter.kind === undefined || change.kind === filter.kind)

const describeFilter = (filter: Filter) =>
  [filter.workspaceId ? `workspace ${filter.workspaceId.slice(0, 8)}` : "all", filter.kind].filter(Boolean).join("/")

/** One logical stream, across its restarts. */
interface StreamTrack {
  readonly name: string
  readonly filter: Filter
  /** Everything at or below it was checked against the table; null until known. */
  checkedTo: Position | null
  /** The last delivered change. */
  last: Position | null
  /** The furthest position any of its cursors showed. */
  known: Position | null
  lastCursor: string | null
  /** Delivered, not yet checked, in order. */
  pending: Array<Position>
  /** (lo, hi] skipped by a restart from a listing. */
  excused: Array<readonly [Position, Position]>
  live: boolean
  /** When the current incarnation went live (ms), for the progress watchdog. */
  liveSince: number | null
  delivered: number
}

/** One consumer name, across its processes and restarts. */
interface ConsumerTrack {
  readonly name: string
  readonly filter: Filter
  readonly continuous: boolean
  handled: Map<string, Position>
  checkpoint: Position | null
  checkedTo: Position | null
  inHandler: number
  /** A reset (after CursorExpired) is under way: its checkpoint may jump over the skipped range. */
  resetting: number
  /** Counts the resets: a check that saw a reset happen while it ran drops its result. */
  resets: number
  running: number
  runningSince: number | null
}

type RequestBase = Documents.PutRequest extends infer T ? T extends unknown ? Omit<T, "version"> : never : never

interface Acked {
  readonly workspaceId: string
  readonly documentId: string
  readonly versionNo: number
}

// ---------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------

const storeLayer = (url: string, applicationName: string, statementTimeout?: Duration.DurationInput) =>
  Layer.mergeAll(
    Documents.layer,
    DocumentChanges.layer({ heartbeatInterval: Duration.seconds(1) })
  ).pipe(Layer.provideMerge(Database.layer({ url: Redacted.make(url), maxConnections: 12, applicationName, statementTimeout })))

type Store = Documents.Documents | DocumentChanges.DocumentChanges | PgClient.PgClient | SqlClient.SqlClient

/** Raw `pg` connections for checks and faults: not the library's, and not ones the faults kill. */
const sideClient = (url: string, name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const pool = new pg.Pool({ connectionString: url, application_name: `docstore-soak ${name}`, max: 3 })
      pool.on("error", () => {})
      return pool
    }),
    (pool) => Effect.promise(() => pool.end().catch(() => undefined))
  )

export const soak = (options: SoakOptions): Effect.Effect<SoakReport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const duration = Duration.toMillis(options.duration)
    const writerCount = options.writers ?? 6
    const pruneAge = Duration.decode(options.pruneAge ?? Duration.seconds(20))
    const pruneAgeMs = Duration.toMillis(pruneAge)
    const pruneInterval = Duration.toMillis(options.pruneInterval ?? Duration.seconds(4))
    const [faultMin, faultMax] = options.faultInterval ?? [1000, 5000]
    const checkInterval = Duration.toMillis(options.checkInterval ?? Duration.seconds(2))
    const operationTimeout = Duration.decode(options.operationTimeout ?? Duration.seconds(30))
    const progressDeadline = Duration.toMillis(options.progressDeadline ?? Duration.seconds(30))
    const log = options.log ?? (() => {})
    const workspaces = Array.from({ length: options.workspaces ?? 4 }, () => randomUUID())

    const started = Date.now()
    const elapsed = () => (Date.now() - started) / 1000
    let running = true
    const operations = new Tally()
    const typedErrors = new Tally()
    const checks = new Tally()
    const byInvariant = new Tally()
    const violations: Array<Violation> = []
    let violationCount = 0
    let faultsInjected = 0
    let backendsTerminated = 0
    let cursorExpired = 0
    let changesHandled = 0

    const violation = (invariant: string, description: string) => {
      violationCount++
      byInvariant.add(invariant)
      const found = { invariant, description, at: Math.round(elapsed() * 10) / 10 }
      if (violations.length < 50) violations.push(found)
      if (byInvariant.counts[invariant]! <= 5) log(`VIOLATION ${invariant} at ${found.at}s: ${description}`)
    }

    // Every operation goes through the watchdog; a defect or a timeout is a violation, a typed error is counted.
    const guard = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>) =>
      effect.pipe(
        Effect.timeoutOption(operationTimeout),
        Effect.exit,
        Effect.map((exit): Option.Option<Exit.Exit<A, E>> => {
          if (Exit.isSuccess(exit)) {
            if (Option.isNone(exit.value)) {
              violation("no-hangs", `${label} did not finish within ${Duration.format(operationTimeout)}`)
              return Option.none()
            }
            return Option.some(Exit.succeed(exit.value.value))
          }
          const failure = Cause.failureOption(exit.cause)
          if (Option.isSome(failure)) {
            typedErrors.add((failure.value as { _tag?: string })?._tag ?? "untagged")
            return Option.some(Exit.fail(failure.value))
          }
          if (!Cause.isInterruptedOnly(exit.cause)) {
            violation("no-defects", `${label}: ${Cause.pretty(exit.cause).split("\n").slice(0, 3).join(" | ")}`)
          }
          return Option.none()
        })
      )

    const untilStopped = (body: Effect.Effect<void>) =>
      Effect.gen(function*() {
        while (running) yield* body
      })

    const pause = (ms: number) =>
      Effect.gen(function*() {
        const until = Date.now() + ms
        while (running && Date.now() < until) yield* Effect.sleep(Duration.millis(Math.min(200, until - Date.now())))
      })

    // ---- the database and the two runtimes ------------------------------------
    const checker = yield* sideClient(options.url, "checker")
    const sampler = yield* sideClient(options.url, "sampler")
    const faulter = yield* sideClient(options.url, "faults")
    const query = <Row extends Record<string, unknown>>(client: pg.Pool, text: string, params: Array<unknown> = []) =>
      Effect.tryPromise(() => client.query<Row>(text, params)).pipe(
        Effect.map((result) => result.rows),
        Effect.timeoutFail({ duration: operationTimeout, onTimeout: () => new Error(`side query timed out: ${text.slice(0, 60)}`) }),
        Effect.orDie
      )

    const contextA = yield* Layer.build(storeLayer(options.url, "effect-docstore soak-a")).pipe(Effect.orDie)
    const network = options.network
    const contextB = yield* Layer.build(
      network ? storeLayer(network.url(options.url), "effect-docstore soak-b", Duration.seconds(5)) : storeLayer(options.url, "effect-docstore soak-b")
    ).pipe(Effect.orDie)
    yield* Migrations.run().pipe(Effect.provide(contextA), Effect.orDie)
    // The slow transactions' runtime: its connections are not among those the faults terminate.
    const contextC = yield* Layer.build(storeLayer(options.url, "docstore-soak slow transactions")).pipe(Effect.orDie)
    const inA = <A, E>(effect: Effect.Effect<A, E, Store>) => Effect.provide(effect, contextA)
    const inB = <A, E>(effect: Effect.Effect<A, E, Store>) => Effect.provide(effect, contextB)
    type Runtime = typeof inA

    // ---- what committed when: samples of the highest change below the horizon -------
    const samples: Array<{ readonly at: number; readonly position: Position }> = []
    const sample = Effect.gen(function*() {
      const rows = yield* query<{ tx: string | null; id: string | null }>(
        sampler,
        `SELECT tx_id::text AS tx, id::text AS id FROM document_changes
         WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx_id DESC, id DESC LIMIT 1`
      )
      const row = rows[0]
      const position = row?.tx ? { txId: BigInt(row.tx), id: BigInt(row.id!) } : samples.at(-1)?.position ?? zero
      samples.push({ at: Date.now(), position: max(samples.at(-1)?.position ?? null, position) })
      while (samples.length > 2 && samples[1]!.at < Date.now() - 3 * Math.max(progressDeadline, pruneAgeMs)) samples.shift()
    })
    /** The highest change that had committed (below the horizon) by `at`, if sampled. */
    const committedBy = (at: number): Position | null => {
      let found: Position | null = null
      for (const s of samples) {
        if (s.at > at) break
        found = s.position
      }
      return found
    }

    // ---- writers --------------------------------------------------------------------
    const acked = new Map<string, Acked>() // version id -> what the caller was told
    let uncheckedAcks: Array<string> = []
    const deleting = new Set<string>() // document ids whose deletion has begun
    const sharedVersions = new Map<string, Map<number, string>>() // document -> version no -> version id

    const acknowledge = (versionId: string, ack: Acked) => {
      const before = acked.get(versionId)
      if (before && (before.documentId !== ack.documentId || before.versionNo !== ack.versionNo)) {
        violation(
          "idempotent-retry",
          `version id ${versionId} was acknowledged as ${before.documentId} v${before.versionNo} and later as ${ack.documentId} v${ack.versionNo}`
        )
      }
      if (!before) uncheckedAcks.push(versionId)
      acked.set(versionId, ack)
    }

    interface Owned {
      readonly request: RequestBase
      readonly documentId: string
      readonly workspaceId: string
      versionNo: number
      readonly versions: Array<string>
      isSource: boolean
    }

    const versionInput = (name: string) => ({
      id: randomUUID(),
      storageKey: `soak/${name}/${randomUUID()}`,
      byteSize: Math.floor(Math.random() * 100_000),
      sha256: randomUUID().replaceAll("-", "").repeat(2)
    })

    /** A put, repeated with the same version id while it fails with DatabaseError: settled, or None. */
    const settledPut = (run: Runtime, label: string, request: Documents.PutRequest) =>
      Effect.gen(function*() {
        for (let attempt = 0; ; attempt++) {
          if (attempt > 0) operations.add("put (retry of an unsettled write)")
          const outcome = yield* guard(label, run(Effect.flatMap(Documents.Documents, (d) => d.put(request))))
          if (Option.isNone(outcome)) return Option.none()
          const exit = outcome.value
          if (Exit.isSuccess(exit)) {
            if (attempt === 0 && exit.value.replayed) {
              violation("idempotent-retry", `${label}: a first write of version ${request.version.id} came back replayed`)
            }
            return Option.some(exit.value)
          }
          const error = Cause.squash(exit.cause) as { _tag?: string; message?: string }
          if (error._tag !== "DatabaseError") {
            violation(
              attempt > 0 && error._tag === "Conflict" ? "idempotent-retry" : "acknowledged-readable",
              `${label}: unexpected ${error._tag}: ${error.message}`
            )
            return Option.none()
          }
          if (!running && attempt > 20) return Option.none()
          yield* Effect.sleep(Duration.millis(random(20, 200)))
        }
      })

    const writer = (index: number, run: Runtime) =>
      Effect.gen(function*() {
        const owned: Array<Owned> = []
        let counter = 0
        const newDocument = Effect.gen(function*() {
          const workspaceId = pick(workspaces)
          const name = `w${index}-${counter++}`
          // An input that has no output yet: a second output of one input would be its next version.
          const sources = owned.filter((o) => o.workspaceId === workspaceId && o.request.kind === "input" && !o.isSource)
          const roll = Math.random()
          const request: RequestBase = roll < 0.4
            ? { kind: "input", workspaceId, name: `${name}.txt` }
            : roll < 0.55 && sources.length > 0
            ? { kind: "output", workspaceId, name: `${name}.csv`, sourceDocumentId: pick(sources).documentId }
            : roll < 0.7
            ? { kind: "output", workspaceId, name: `${name}.json`, runId: randomUUID() }
            : roll < 0.85
            ? { kind: "log", workspaceId, name: `${name}.log`, runId: randomUUID() }
            : { kind: "export", workspaceId, name: `${name}.zip`, exportJobId: randomUUID() }
          const version = versionInput(name)
          const written = yield* settledPut(run, `new ${request.kind}`, { ...request, version } as Documents.PutRequest)
          if (Option.isNone(written)) return
          operations.add(`put: new document (${request.kind})`)
          const { document, version: stored } = written.value
          if (stored.versionNo !== 1) {
            violation("versions-gapless", `a new document ${document.id} was acknowledged as version ${stored.versionNo}`)
          }
          if (request.kind === "output" && "sourceDocumentId" in request) {
            owned.find((o) => o.documentId === request.sourceDocumentId)!.isSource = true
          }
          acknowledge(version.id, { workspaceId, documentId: document.id, versionNo: stored.versionNo })
          owned.push({ request, documentId: document.id, workspaceId, versionNo: stored.versionNo, versions: [version.id], isSource: false })
        })

        const nextVersion = Effect.gen(function*() {
          const doc = pick(owned)
          const version = versionInput(doc.documentId)
          const written = yield* settledPut(run, `next version of ${doc.request.kind}`, { ...doc.request, version } as Documents.PutRequest)
          if (Option.isNone(written)) return
          operations.add("put: next version")
          const { document, version: stored } = written.value
          if (document.id !== doc.documentId) {
            violation("versions-gapless", `the next version of ${doc.documentId} went to another document ${document.id}`)
          } else if (stored.versionNo !== doc.versionNo + 1) {
            violation("versions-gapless", `after v${doc.versionNo} of ${doc.documentId} the next write was acknowledged as v${stored.versionNo}`)
          }
          doc.versionNo = stored.versionNo
          doc.versions.push(version.id)
          acknowledge(version.id, { workspaceId: doc.workspaceId, documentId: document.id, versionNo: stored.versionNo })
        })

        const sharedKey = Effect.gen(function*() {
          const workspaceId = pick(workspaces)
          const name = `Shared-${Math.floor(Math.random() * 3)}.TXT`
          const version = versionInput(name)
          const written = yield* settledPut(run, "shared key", { kind: "input", workspaceId, name, version })
          if (Option.isNone(written)) return
          operations.add("put: shared key")
          const { document, version: stored } = written.value
          const numbers = sharedVersions.get(document.id) ?? new Map<number, string>()
          sharedVersions.set(document.id, numbers)
          const other = numbers.get(stored.versionNo)
          if (other !== undefined && other !== version.id) {
            violation("versions-gapless", `shared document ${document.id} acknowledged v${stored.versionNo} to two writes`)
          }
          numbers.set(stored.versionNo, version.id)
          acknowledge(version.id, { workspaceId, documentId: document.id, versionNo: stored.versionNo })
        })

        const remove = Effect.gen(function*() {
          const candidates = owned.filter((o) => !o.isSource)
          if (candidates.length === 0) return
          const doc = pick(candidates)
          deleting.add(doc.documentId)
          owned.splice(owned.indexOf(doc), 1)
          for (let attempt = 0; ; attempt++) {
            const outcome = yield* guard(
              "delete",
              run(Effect.flatMap(Documents.Documents, (d) => d.delete({ workspaceId: doc.workspaceId, documentId: doc.documentId })))
            )
            if (Option.isNone(outcome)) return
            if (Exit.isSuccess(outcome.value)) break
            const error = Cause.squash(outcome.value.cause) as { _tag?: string; message?: string }
            // A retry of a delete that had applied finds nothing: settled.
            if (error._tag === "DocumentNotFound" && attempt > 0) break
            if (error._tag !== "DatabaseError") {
              violation("acknowledged-readable", `delete of ${doc.documentId}: unexpected ${error._tag}: ${error.message}`)
              return
            }
            if (!running && attempt > 20) return
            yield* Effect.sleep(Duration.millis(random(20, 200)))
          }
          operations.add("delete")
        })

        const readBack = Effect.gen(function*() {
          const doc = pick(owned)
          const versionNo = 1 + Math.floor(Math.random() * doc.versionNo)
          const outcome = yield* guard(
            "read back",
            run(Effect.flatMap(Documents.Documents, (d) =>
              Effect.zip(
                d.get({ workspaceId: doc.workspaceId, documentId: doc.documentId }),
                d.version({ workspaceId: doc.workspaceId, documentId: doc.documentId, versionNo })
              )))
          )
          if (Option.isNone(outcome)) return
          const exit = outcome.value
          if (Exit.isFailure(exit)) {
            const error = Cause.squash(exit.cause) as { _tag?: string; message?: string }
            if (error._tag !== "DatabaseError") {
              violation("acknowledged-readable", `${doc.documentId} v${versionNo}: ${error._tag}: ${error.message}`)
            }
            return
          }
          operations.add("read back (get + version)")
          checks.add("acknowledged-readable (through the library)")
          const [document, version] = exit.value
          if (document.id !== doc.documentId || version.id !== doc.versions[versionNo - 1]) {
            violation("acknowledged-readable", `${doc.documentId} v${versionNo} read back as ${version.id}, acknowledged ${doc.versions[versionNo - 1]}`)
          }
        })

        const listing = Effect.gen(function*() {
          const outcome = yield* guard(
            "list",
            run(Effect.flatMap(Documents.Documents, (d) => d.list({ workspaceId: pick(workspaces), limit: 50 })))
          )
          if (Option.isSome(outcome) && Exit.isSuccess(outcome.value)) operations.add("list")
        })

        yield* untilStopped(Effect.gen(function*() {
          const roll = Math.random()
          if (owned.length < 3 || roll < 0.3) yield* newDocument
          else if (roll < 0.6) yield* nextVersion
          else if (roll < 0.7) yield* sharedKey
          else if (roll < 0.78) yield* remove
          else if (roll < 0.93) yield* readBack
          else yield* listing
        }))
      })

    // ---- live streams ---------------------------------------------------------------
    const streamTracks: Array<StreamTrack> = []
    /** Changes the unfiltered streams delivered, with their age: prune must not have deleted a young one. */
    let deliveredAges: Array<{ readonly position: Position; readonly changedAt: number }> = []
    let changesDelivered = 0

    const sideXmin = Effect.map(
      query<{ xmin: string }>(checker, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`),
      ([row]): Position => ({ txId: BigInt(row!.xmin), id: 0n })
    )

    const onEvent = (track: StreamTrack, event: DocumentChanges.FeedEvent) =>
      Effect.gen(function*() {
        const position = decodeCursor(event.cursor)
        if (position === null) {
          violation("stream-order", `${track.name}: a ${event._tag} carried a cursor that does not decode`)
          return
        }
        if (event._tag === "Change") {
          const at = positionOfChange(event.change)
          if (compare(at, position) !== 0) {
            violation("stream-order", `${track.name}: change ${show(at)} carried the cursor of ${show(position)}`)
          }
          if (track.last !== null && compare(at, track.last) <= 0) {
            violation(
              "stream-order",
              `${track.name}: ${compare(at, track.last) === 0 ? "delivered twice" : "out of order"}: ${show(at)} after ${show(track.last)}`
            )
          }
          if (!matchesFilter(track.filter, event.change)) {
            violation("stream-order", `${track.name}: change ${show(at)} of ${event.change.workspaceId}/${event.change.kind} does not match its filter`)
          }
          track.last = at
          track.pending.push(at)
          if (track.filter.workspaceId === undefined && track.filter.kind === undefined) {
            deliveredAges.push({ position: at, changedAt: event.change.changedAt.getTime() })
          }
          track.delivered++
          changesDelivered++
        } else {
          if (event._tag === "CaughtUp") {
            track.live = true
            track.liveSince = Date.now()
            // A stream from "now" starts somewhere at or below the horizon seen after it caught up.
            if (track.checkedTo === null) {
              const xmin = yield* sideXmin
              track.checkedTo = xmin
              track.pending = track.pending.filter((p) => compare(p, xmin) > 0)
            }
          }
        }
        if (track.known !== null && compare(position, track.known) < 0) {
          violation("stream-order", `${track.name}: a ${event._tag} cursor ${show(position)} went back from ${show(track.known)}`)
        }
        track.known = max(track.known, position)
        track.lastCursor = event.cursor
      })

    /** Was the stream (or consumer) at `position` caught up with what had committed half a prune age ago? */
    const wasCaughtUp = (position: Position | null) => {
      const reference = committedBy(Date.now() - pruneAgeMs / 2)
      return position !== null && reference !== null && compare(reference, zero) > 0 && compare(position, reference) >= 0
    }

    const listingCursor = (run: Runtime, filter: Filter) =>
      Effect.gen(function*() {
        for (;;) {
          const outcome = yield* guard(
            "listing after CursorExpired",
            run(Effect.gen(function*() {
              if (filter.workspaceId === undefined) return yield* Effect.flatMap(DocumentChanges.DocumentChanges, (f) => f.currentCursor)
              const page = yield* Effect.flatMap(Documents.Documents, (d) =>
                d.list({ workspaceId: filter.workspaceId!, ...(filter.kind ? { kind: filter.kind as "input" } : {}), limit: 100 }))
              return page.cursor
            }))
          )
          if (Option.isNone(outcome)) return Option.none<string>()
          if (Exit.isSuccess(outcome.value)) return Option.some(outcome.value.value)
          yield* Effect.sleep(Duration.millis(100))
        }
      })

    const liveStream = (
      run: Runtime,
      name: string,
      filter: Filter,
      from: "beginning" | "now",
      restarting: boolean
    ) =>
      Effect.gen(function*() {
        const track: StreamTrack = {
          name,
          filter,
          checkedTo: from === "beginning" ? zero : null,
          last: null,
          known: null,
          lastCursor: null,
          pending: [],
          excused: [],
          live: false,
          liveSince: null,
          delivered: 0
        }
        streamTracks.push(track)
        let start: string = from
        while (running) {
          track.live = false
          track.liveSince = null
          const session = Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
            feed.stream({ from: start, ...filter } as DocumentChanges.StreamRequest).pipe(
              Stream.runForEach((event) => onEvent(track, event))
            ))
          const exit = yield* run(session).pipe(
            restarting ? Effect.timeoutOption(Duration.millis(random(2000, 8000))) : Effect.asSome,
            Effect.exit
          )
          operations.add(restarting ? "stream session (restarting)" : "stream session")
          if (!running) return
          if (Exit.isSuccess(exit)) {
            // Stopped on purpose; resume from the last cursor after a pause, now and then longer than the prune age.
            start = track.lastCursor ?? start
            yield* pause(Math.random() < 0.25 ? random(pruneAgeMs, 1.5 * pruneAgeMs) : random(100, 1500))
            operations.add("stream restart from its cursor")
            continue
          }
          const failure = Cause.failureOption(exit.cause)
          if (Option.isNone(failure)) {
            if (!Cause.isInterruptedOnly(exit.cause)) violation("no-defects", `${name}: ${Cause.pretty(exit.cause).split("\n")[0]}`)
            return
          }
          const error = failure.value
          typedErrors.add(error._tag)
          if (error._tag !== "CursorExpired") {
            violation("stream-order", `${name}: the stream failed with ${error._tag}: ${error.message}`)
            return
          }
          cursorExpired++
          if (track.live && wasCaughtUp(track.known)) {
            violation("caught-up-not-expired", `${name} at ${show(track.known)} had caught up, yet got CursorExpired (${error.reason})`)
          }
          const listed = yield* listingCursor(run, filter)
          if (Option.isNone(listed)) return
          const restartAt = decodeCursor(listed.value)!
          track.excused.push([track.known ?? track.checkedTo ?? zero, restartAt])
          start = listed.value
          operations.add("stream restart from a listing (after CursorExpired)")
        }
      })

    const checkStream = (track: StreamTrack) =>
      Effect.gen(function*() {
        const upTo = track.known
        const from = track.checkedTo
        if (upTo === null || from === null || compare(upTo, from) <= 0) return
        // A stream from "now" may deliver changes below the point its checks start from: those are not checked.
        const delivered = track.pending.filter((p) => compare(p, from) > 0 && compare(p, upTo) <= 0)
        const params: Array<unknown> = [String(from.txId), String(from.id), String(upTo.txId), String(upTo.id)]
        const clause = filterSql(track.filter, params)
        const rows = yield* query<{ htx: string | null; hid: string | null; tx: string | null; id: string | null }>(
          checker,
          `SELECT f.horizon_tx_id::text AS htx, f.horizon_id::text AS hid, c.tx, c.id
           FROM document_feed f LEFT JOIN LATERAL (
             SELECT tx_id::text AS tx, id::text AS id FROM document_changes
             WHERE (tx_id, id) > ($1::xid8, $2::bigint) AND (tx_id, id) <= ($3::xid8, $4::bigint)${clause}
             ORDER BY tx_id, id
           ) c ON true`,
          params
        )
        const horizon = rows[0]?.htx ? { txId: BigInt(rows[0].htx), id: BigInt(rows[0].hid!) } : null
        const inTable = new Set(rows.filter((r) => r.tx !== null).map((r) => `${r.tx}:${r.id}`))
        const seen = new Set(delivered.map(keyOf))
        let missed = 0
        let example = ""
        for (const row of rows) {
          if (row.tx === null) continue
          const p = { txId: BigInt(row.tx), id: BigInt(row.id!) }
          if (seen.has(keyOf(p))) continue
          if (track.excused.some(([lo, hi]) => compare(p, lo) > 0 && compare(p, hi) <= 0)) continue
          missed++
          example ||= show(p)
        }
        if (missed > 0) {
          violation("stream-complete", `${track.name} (${describeFilter(track.filter)}) missed ${missed} committed changes in ${show(from)}..${show(upTo)}, e.g. ${example}`)
        }
        const phantoms = delivered.filter((p) => !inTable.has(keyOf(p)) && (horizon === null || compare(p, horizon) > 0))
        if (phantoms.length > 0) {
          violation("stream-complete", `${track.name} delivered ${phantoms.length} changes that are not in the log, e.g. ${show(phantoms[0]!)}`)
        }
        checks.add("stream-complete")
        track.checkedTo = upTo
        track.pending = track.pending.filter((p) => compare(p, upTo) > 0)
        track.excused = track.excused.filter(([, hi]) => compare(hi, upTo) > 0)
        // The watchdog: a live stream reaches what had committed `progressDeadline` ago.
        const reference = committedBy(Date.now() - progressDeadline)
        if (track.live && track.liveSince !== null && track.liveSince < Date.now() - progressDeadline && reference !== null) {
          checks.add("no-hangs (stream progress)")
          if (compare(upTo, reference) < 0) {
            violation("no-hangs", `${track.name} is at ${show(upTo)}, behind ${show(reference)} that committed ${progressDeadline / 1000}s ago`)
          }
        }
      })

    // ---- durable consumers ----------------------------------------------------------
    const consumerTracks: Array<ConsumerTrack> = []

    const consumer = (run: Runtime, track: ConsumerTrack, restarting: boolean, leaseDuration: Duration.Duration) =>
      Effect.gen(function*() {
        let startFrom: "beginning" | "now" = "beginning"
        while (running) {
          const handler = (changes: ReadonlyArray<Change>) =>
            Effect.gen(function*() {
              if (track.inHandler > 0) violation("consumer-exclusive", `two handlers of ${track.name} ran at the same time`)
              track.inHandler++
              yield* Effect.sleep(Duration.millis(random(0, 3)))
              if (Math.random() < 0.03) return yield* Effect.fail({ _tag: "HandlerFailed" as const })
              let previous: Position | null = null
              for (const change of changes) {
                const p = positionOfChange(change)
                if (previous !== null && compare(p, previous) <= 0) {
                  violation("stream-order", `consumer ${track.name} got a batch out of order: ${show(p)} after ${show(previous)}`)
                }
                if (!matchesFilter(track.filter, change)) violation("stream-order", `consumer ${track.name} got ${show(p)} outside its filter`)
                previous = p
                track.handled.set(keyOf(p), p)
              }
              changesHandled += changes.length
            }).pipe(Effect.ensuring(Effect.sync(() => track.inHandler--)))
          track.running++
          if (track.running === 1) track.runningSince = Date.now()
          const exit = yield* run(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
            feed.consume({ name: track.name, ...track.filter, startFrom, maxBatch: 50, leaseDuration, handler } as DocumentChanges.ConsumeRequest<{ _tag: "HandlerFailed" }, never>)
          )).pipe(
            restarting ? Effect.timeoutOption(Duration.millis(random(3000, 10_000))) : Effect.asSome,
            Effect.ensuring(Effect.sync(() => {
              track.running--
              if (track.running === 0) track.runningSince = null
            })),
            Effect.exit
          )
          operations.add(restarting ? "consumer session (restarting)" : "consumer session")
          if (!running) return
          if (Exit.isSuccess(exit)) {
            yield* pause(Math.random() < 0.2 ? random(pruneAgeMs, 1.5 * pruneAgeMs) : random(200, 3000))
            operations.add("consumer restart")
            continue
          }
          const failure = Cause.failureOption(exit.cause)
          if (Option.isNone(failure)) {
            if (!Cause.isInterruptedOnly(exit.cause)) violation("no-defects", `consumer ${track.name}: ${Cause.pretty(exit.cause).split("\n")[0]}`)
            return
          }
          const error = failure.value as { _tag: string; message?: string; reason?: string }
          typedErrors.add(error._tag)
          if (error._tag === "LeaseLost") {
            operations.add("consumer restart (after LeaseLost)")
            continue
          }
          if (error._tag !== "CursorExpired") {
            violation("no-defects", `consumer ${track.name} stopped with ${error._tag}: ${error.message}`)
            return
          }
          cursorExpired++
          // The other process of a name may have reset it already; else its stored checkpoint is behind the horizon.
          const [row] = yield* query<{ cursor: string | null; htx: string | null; hid: string | null }>(
            checker,
            `SELECT c.cursor, f.horizon_tx_id::text AS htx, f.horizon_id::text AS hid
             FROM document_feed f LEFT JOIN document_consumers c ON c.name = $1`,
            [track.name]
          )
          const stored = row?.cursor ? decodeCursor(row.cursor) : null
          const horizon = row?.htx ? { txId: BigInt(row.htx), id: BigInt(row.hid!) } : null
          startFrom = "now"
          if (stored === null || horizon === null || compare(stored, horizon) >= 0) continue
          if (wasCaughtUp(stored)) {
            violation("caught-up-not-expired", `consumer ${track.name}'s checkpoint ${show(stored)} had caught up, yet the horizon ${show(horizon)} passed it (${error.reason})`)
          }
          // The reset: forget the checkpoint; the consumer starts again from now. The other process of the
          // name may store a checkpoint past the skipped range at once: the checks skip the name meanwhile.
          track.resetting++
          yield* query(checker, `DELETE FROM document_consumers WHERE name = $1 AND cursor = $2`, [track.name, row!.cursor]).pipe(
            Effect.ensuring(Effect.sync(() => {
              track.resetting--
              track.resets++
              track.checkpoint = null
              track.checkedTo = null
              track.handled.clear()
            }))
          )
          operations.add("consumer reset (after CursorExpired)")
        }
      })

    const checkConsumers = Effect.gen(function*() {
      const resetsBefore = new Map(consumerTracks.map((track) => [track, track.resets]))
      const rows = yield* query<{ name: string; cursor: string }>(checker, `SELECT name, cursor FROM document_consumers`)
      for (const track of consumerTracks) {
        const row = rows.find((r) => r.name === track.name)
        const resets = resetsBefore.get(track)!
        if (!row || track.resetting > 0 || track.resets !== resets) continue
        const checkpoint = decodeCursor(row.cursor)
        if (checkpoint === null) {
          violation("checkpoint-monotonic", `consumer ${track.name} stored a checkpoint that does not decode`)
          continue
        }
        checks.add("checkpoint-monotonic")
        if (track.checkpoint !== null && compare(checkpoint, track.checkpoint) < 0) {
          violation("checkpoint-monotonic", `consumer ${track.name}'s checkpoint went back from ${show(track.checkpoint)} to ${show(checkpoint)}`)
        }
        track.checkpoint = max(track.checkpoint, checkpoint)
        if (track.checkedTo === null) {
          // After a reset: start checking from the first checkpoint seen.
          track.checkedTo = checkpoint
          continue
        }
        if (compare(checkpoint, track.checkedTo) > 0) {
          const from = track.checkedTo
          const params: Array<unknown> = [String(from.txId), String(from.id), String(checkpoint.txId), String(checkpoint.id)]
          const clause = filterSql(track.filter, params)
          const changes = yield* query<{ tx: string; id: string }>(
            checker,
            `SELECT tx_id::text AS tx, id::text AS id FROM document_changes
             WHERE (tx_id, id) > ($1::xid8, $2::bigint) AND (tx_id, id) <= ($3::xid8, $4::bigint)${clause}`,
            params
          )
          if (track.resetting > 0 || track.resets !== resets) continue
          const missing = changes.filter((c) => !track.handled.has(`${c.tx}:${c.id}`))
          checks.add("consumer-at-least-once")
          if (missing.length > 0) {
            violation(
              "consumer-at-least-once",
              `consumer ${track.name}'s checkpoint ${show(checkpoint)} passed ${missing.length} changes no handler got, e.g. (${missing[0]!.tx},${missing[0]!.id})`
            )
          }
          track.checkedTo = checkpoint
          for (const [key, p] of track.handled) if (compare(p, checkpoint) <= 0) track.handled.delete(key)
        }
        // The watchdog: while some process of the name runs, its checkpoint follows the feed, whether or not
        // the changes matched its filter: it reaches what had committed `progressDeadline` ago.
        const reference = committedBy(Date.now() - progressDeadline)
        if (track.runningSince !== null && track.runningSince < Date.now() - progressDeadline && reference !== null) {
          checks.add("no-hangs (consumer progress)")
          if (compare(track.checkpoint!, reference) < 0) {
            violation("no-hangs", `consumer ${track.name}'s checkpoint ${show(track.checkpoint)} is behind ${show(reference)}, committed ${progressDeadline / 1000}s ago`)
          }
        }
      }
    })

    // ---- the database-side checks -------------------------------------------------
    const checkAcknowledged = (ids: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        for (let i = 0; i < ids.length; i += 5000) {
          const chunk = ids.slice(i, i + 5000).filter((id) => !deleting.has(acked.get(id)!.documentId))
          const rows = yield* query<{ id: string; fileId: string; versionNo: number; workspaceId: string }>(
            checker,
            `SELECT v.id, v.file_id AS "fileId", v.version_no AS "versionNo", f.workspace_id AS "workspaceId"
             FROM file_versions v JOIN files f ON f.id = v.file_id WHERE v.id = ANY($1::uuid[])`,
            [chunk]
          )
          const found = new Map(rows.map((row) => [row.id, row]))
          for (const id of chunk) {
            const ack = acked.get(id)!
            const row = found.get(id)
            checks.add("acknowledged-readable")
            if (row === undefined) {
              // Its deletion may have begun after the chunk was chosen.
              if (!deleting.has(ack.documentId)) {
                violation("acknowledged-readable", `acknowledged version ${id} (${ack.documentId} v${ack.versionNo}) is not in the database`)
              }
            } else if (row.fileId !== ack.documentId || row.versionNo !== ack.versionNo || row.workspaceId !== ack.workspaceId) {
              violation("acknowledged-readable", `version ${id} was acknowledged as ${ack.documentId} v${ack.versionNo}, stored as ${row.fileId} v${row.versionNo}`)
            }
          }
        }
      })

    const checkVersions = Effect.gen(function*() {
      const rows = yield* query<{ id: string; versions: string; lowest: number | null; highest: number | null }>(
        checker,
        `SELECT f.id, count(v.id)::text AS versions, min(v.version_no) AS lowest, max(v.version_no) AS highest
         FROM files f LEFT JOIN file_versions v ON v.file_id = f.id
         GROUP BY f.id
         HAVING count(v.id) = 0 OR min(v.version_no) <> 1 OR max(v.version_no) <> count(v.id)`
      )
      checks.add("versions-gapless")
      for (const row of rows.slice(0, 5)) {
        violation("versions-gapless", `document ${row.id} has ${row.versions} versions numbered ${row.lowest}..${row.highest}`)
      }
    })

    const checkAll = (final: boolean) =>
      Effect.gen(function*() {
        const ids = final ? [...acked.keys()] : uncheckedAcks
        uncheckedAcks = []
        yield* checkAcknowledged(ids)
        yield* checkVersions
        for (const track of streamTracks) yield* checkStream(track)
        yield* checkConsumers
      })

    // ---- faults and prune -------------------------------------------------------------
    const faultsByKind = new Tally()
    const networkFault = (network: NetworkFaults) =>
      Effect.gen(function*() {
        const roll = Math.random()
        if (roll < 0.4) {
          network.cut()
          faultsByKind.add("network: every connection of runtime B reset")
        } else if (roll < 0.75) {
          // Some stalls outlast runtime B's statement timeout (5 s): its client must notice the silence.
          const millis = Math.random() < 0.25 ? random(6000, 8000) : random(300, 3000)
          network.stall()
          faultsByKind.add(millis > 5000 ? "network: runtime B stalled 6-8 s" : "network: runtime B stalled 0.3-3 s")
          yield* pause(millis).pipe(Effect.ensuring(Effect.sync(() => network.resume())))
        } else {
          network.setLatency(Math.round(random(20, 200)))
          faultsByKind.add("network: 20-200 ms latency on runtime B for 1-4 s")
          yield* pause(random(1000, 4000)).pipe(Effect.ensuring(Effect.sync(() => network.setLatency(0))))
        }
        faultsInjected++
      })

    const faults = untilStopped(Effect.gen(function*() {
      yield* pause(random(faultMin, faultMax))
      if (!running) return
      if (network && Math.random() < 0.4) return yield* networkFault(network)
      const all = Math.random() < 0.6
      faultsByKind.add(all ? "pg_terminate_backend: every library connection" : "pg_terminate_backend: one library connection")
      const rows = yield* query<{ pid: number }>(
        faulter,
        `SELECT pid, pg_terminate_backend(pid) FROM (
           SELECT pid FROM pg_stat_activity
           WHERE datname = current_database() AND application_name LIKE 'effect-docstore%' AND pid <> pg_backend_pid()
           ${all ? "" : "ORDER BY random() LIMIT 1"}
         ) library`
      )
      faultsInjected++
      backendsTerminated += rows.length
    }))

    const pruner = untilStopped(Effect.gen(function*() {
      yield* pause(pruneInterval)
      if (!running) return
      const outcome = yield* guard("prune", inA(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) => feed.prune({ olderThan: pruneAge }))))
      if (Option.isSome(outcome) && Exit.isSuccess(outcome.value)) {
        operations.add("prune")
        operations.add("changes pruned", outcome.value.value.deleted)
        const horizon = outcome.value.value.horizon === null ? null : decodeCursor(outcome.value.value.horizon)
        // The server's clock, read after prune's: a change younger than the age by it was young for prune too.
        const [clock] = yield* query<{ now: number }>(checker, `SELECT (extract(epoch FROM now()) * 1000)::float8 AS now`)
        const youngFrom = clock!.now - pruneAgeMs
        checks.add("prune-respects-age")
        if (horizon !== null) {
          const young = deliveredAges.filter((d) => d.changedAt >= youngFrom && compare(d.position, horizon) <= 0)
          if (young.length > 0) {
            violation(
              "prune-respects-age",
              `prune({ olderThan: ${pruneAgeMs / 1000}s }) moved the horizon to ${show(horizon)}, over ${young.length} changes ` +
                `younger than that, e.g. ${show(young[0]!.position)} of ${((clock!.now - young[0]!.changedAt) / 1000).toFixed(1)}s`
            )
          }
        }
        deliveredAges = deliveredAges.filter((d) => d.changedAt >= clock!.now - 3 * pruneAgeMs)
      }
    }))

    // ---- run ----------------------------------------------------------------------
    const [w0, w1, w2, w3] = [workspaces[0]!, workspaces[1]!, workspaces[2 % workspaces.length]!, workspaces[3 % workspaces.length]!]
    const consumerTrack = (name: string, filter: Filter, continuous: boolean): ConsumerTrack => {
      const track = {
        name,
        filter,
        continuous,
        handled: new Map(),
        checkpoint: null,
        checkedTo: zero,
        inHandler: 0,
        resetting: 0,
        resets: 0,
        running: 0,
        runningSince: null
      }
      consumerTracks.push(track)
      return track
    }
    const indexer = consumerTrack("indexer", {}, false)
    const exporter = consumerTrack("exporter", { workspaceId: w1 }, true)
    const shared = consumerTrack("shared", {}, false)
    const audit = consumerTrack("audit", { workspaceId: w2, kind: "output" }, false)
    // A quiet workspace: a write less often than the progress deadline. Its readers see little of their own,
    // while the rest of the feed (and the prune horizon) moves on under them.
    const quietWorkspace = randomUUID()
    const quiet = consumerTrack("quiet", { workspaceId: quietWorkspace }, true)
    const quietRestarting = consumerTrack("quiet restarting", { workspaceId: quietWorkspace }, false)
    const quietWriter = untilStopped(Effect.gen(function*() {
      yield* pause(random(1.5, 2) * progressDeadline)
      if (!running) return
      const name = `quiet-${randomUUID()}.txt`
      const version = versionInput(name)
      const written = yield* settledPut(inA, "quiet workspace", { kind: "input", workspaceId: quietWorkspace, name, version })
      if (Option.isNone(written)) return
      operations.add("put: new document (input, quiet workspace)")
      acknowledge(version.id, { workspaceId: quietWorkspace, documentId: written.value.document.id, versionNo: 1 })
    }))
    // A user-composed transaction that begins, waits longer than the prune age, then writes: its change
    // carries its transaction's start time (old) and its transaction id (new) at once.
    const slowTransaction = untilStopped(Effect.gen(function*() {
      yield* pause(random(0.5, 1) * pruneAgeMs)
      if (!running) return
      const workspaceId = pick(workspaces)
      const name = `slow-${randomUUID()}.txt`
      const version = versionInput(name)
      const outcome = yield* guard(
        "slow transaction",
        Effect.provide(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const documents = yield* Documents.Documents
          return yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`SELECT 1`
            yield* Effect.sleep(Duration.millis(random(1.1, 1.4) * pruneAgeMs))
            return yield* documents.put({ kind: "input", workspaceId, name, version })
          }))
        }), contextC)
      )
      if (Option.isNone(outcome) || Exit.isFailure(outcome.value)) return
      operations.add("put: in a transaction older than the prune age")
      acknowledge(version.id, { workspaceId, documentId: outcome.value.value.document.id, versionNo: 1 })
    }))
    const lease = Duration.seconds(10)

    yield* sample
    const actors = [
      ...Array.from({ length: writerCount }, (_, i) => writer(i, i % 3 === 2 ? inB : inA)),
      liveStream(inA, "all from beginning", {}, "beginning", false),
      liveStream(inA, "all from now", {}, "now", false),
      liveStream(inA, "ws0 from beginning", { workspaceId: w0 }, "beginning", false),
      liveStream(inA, "ws1 inputs from now", { workspaceId: w1, kind: "input" }, "now", false),
      liveStream(inB, "ws3 from now (B)", { workspaceId: w3 }, "now", false),
      liveStream(inA, "ws2 restarting", { workspaceId: w2 }, "now", true),
      liveStream(inA, "ws3 restarting", { workspaceId: w3 }, "beginning", true),
      liveStream(inB, "all restarting (B)", {}, "now", true),
      consumer(inA, indexer, true, lease),
      consumer(inA, exporter, false, lease),
      consumer(inA, shared, true, Duration.seconds(3)),
      consumer(inB, shared, true, Duration.seconds(3)),
      consumer(inB, audit, true, lease),
      consumer(inA, quiet, false, lease),
      consumer(inB, quietRestarting, true, lease),
      liveStream(inB, "quiet restarting (B)", { workspaceId: quietWorkspace }, "beginning", true),
      quietWriter,
      slowTransaction,
      faults,
      pruner,
      untilStopped(Effect.zipRight(Effect.sleep(Duration.millis(250)), sample))
    ]
    const fibers = yield* Effect.forEach(actors, (actor) => Effect.forkDaemon(actor))

    let lastStatus = Date.now()
    while (Date.now() - started < duration) {
      yield* Effect.sleep(Duration.millis(Math.min(checkInterval, duration - (Date.now() - started))))
      yield* checkAll(false)
      if (Date.now() - lastStatus >= 15_000) {
        lastStatus = Date.now()
        const ops = Object.entries(operations.counts).filter(([name]) => name !== "changes pruned").reduce((a, [, n]) => a + n, 0)
        log(`${elapsed().toFixed(0)}s: ${ops} operations, ${changesDelivered} changes delivered, ${faultsInjected} faults, ${violationCount} violations`)
      }
    }

    // ---- the end: stop the load, let the live streams catch up, check everything ------------
    running = false
    yield* Effect.forEach(fibers, (fiber) => Fiber.interrupt(fiber), { discard: true })
    yield* sample
    const target = samples.at(-1)!.position
    // The continuous streams were interrupted with the rest: restart one session each from its cursor to settle.
    for (const track of streamTracks) {
      if (track.lastCursor === null) continue
      const settle = Effect.flatMap(DocumentChanges.DocumentChanges, (feed) =>
        feed.stream({ from: track.lastCursor!, ...track.filter } as DocumentChanges.StreamRequest).pipe(
          Stream.tap((event) => onEvent(track, event)),
          Stream.takeUntil((event) => event._tag !== "Change" && track.known !== null && compare(track.known, target) >= 0),
          Stream.runDrain
        ))
      const outcome = yield* guard(`final catch-up of ${track.name}`, inA(settle))
      if (Option.isSome(outcome) && Exit.isFailure(outcome.value)) {
        const error = Cause.squash(outcome.value.cause) as { _tag?: string }
        if (error._tag === "CursorExpired") cursorExpired++
        else violation("stream-order", `final catch-up of ${track.name} failed with ${error._tag}`)
      }
    }
    yield* checkAll(true)

    const report: SoakReport = {
      durationSeconds: Math.round(elapsed()),
      operations: operations.counts,
      typedErrors: typedErrors.counts,
      changesDelivered,
      changesHandled,
      faultsInjected,
      faultsByKind: faultsByKind.counts,
      backendsTerminated,
      cursorExpired,
      checks: checks.counts,
      violationCount,
      violationsByInvariant: byInvariant.counts,
      violations
    }
    return report
  })

/** Runs a soak on the database at `options.url` (it is migrated first). */
export const runSoak = (options: SoakOptions): Promise<SoakReport> => Effect.runPromise(Effect.scoped(soak(options)))

/** The report as plain-text tables. */
export const formatReport = (report: SoakReport): string => {
  const table = (title: string, rows: ReadonlyArray<readonly [string, string | number]>) => {
    const width = Math.max(title.length, ...rows.map(([name]) => name.length))
    const valueWidth = Math.max(...rows.map(([, value]) => String(value).length), 1)
    return [
      `${title.padEnd(width)}  ${"".padStart(valueWidth)}`,
      `${"-".repeat(width)}  ${"-".repeat(valueWidth)}`,
      ...rows.map(([name, value]) => `${name.padEnd(width)}  ${String(value).padStart(valueWidth)}`)
    ].join("\n")
  }
  const sorted = (record: Readonly<Record<string, number>>) =>
    Object.entries(record).sort(([a], [b]) => a.localeCompare(b)) as ReadonlyArray<readonly [string, number]>
  const operationTotal = Object.entries(report.operations).filter(([name]) => name !== "changes pruned").reduce((a, [, n]) => a + n, 0)
  const invariants = [
    "acknowledged-readable",
    "versions-gapless",
    "idempotent-retry",
    "stream-order",
    "stream-complete",
    "caught-up-not-expired",
    "prune-respects-age",
    "consumer-at-least-once",
    "checkpoint-monotonic",
    "consumer-exclusive",
    "no-defects",
    "no-hangs"
  ]
  return [
    table("summary", [
      ["duration (s)", report.durationSeconds],
      ["operations", operationTotal],
      ["changes delivered to live streams", report.changesDelivered],
      ["changes handled by consumers", report.changesHandled],
      ["faults injected", report.faultsInjected],
      ["library connections terminated", report.backendsTerminated],
      ["CursorExpired (behind the prune horizon, restarted)", report.cursorExpired],
      ["invariant violations", report.violationCount]
    ]),
    table("faults injected", sorted(report.faultsByKind)),
    table("operations", sorted(report.operations)),
    table("typed errors received", sorted(report.typedErrors).length > 0 ? sorted(report.typedErrors) : [["(none)", 0]]),
    table("checks", sorted(report.checks)),
    table("violations by invariant", invariants.map((name) => [name, report.violationsByInvariant[name] ?? 0] as const)),
    ...(report.violations.length > 0
      ? [["violations (first 50)", ...report.violations.map((v) => `  ${v.at}s ${v.invariant}: ${v.description}`)].join("\n")]
      : [])
  ].join("\n\n")
}

