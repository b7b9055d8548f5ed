/**
 * The soak engine: minutes of mixed load on one migrated database, with
 * faults injected, and the store's invariants checked continuously while it
 * runs (every `checkInterval`), not only at the end. This module composes
 * it; each scenario of the load is a module of soak/scenarios/, each check
 * a function of soak/checks/, and what they share is `SoakState`
 * (soak/state.ts) and the `Harness` (soak/harness.ts).
 *
 * Load, on two library runtimes ("processes") sharing the database:
 * - writers (scenarios/writers.ts): `Documents.put` of new documents of
 *   every kind in several workspaces, next versions of documents they
 *   wrote, writes to keys all of them share, deletes, reads back through the
 *   library, listings; a write that fails with `DatabaseError` is retried
 *   with the same version id until it is settled (the idempotent retry tells
 *   whether it had applied);
 * - live streams (scenarios/streams.ts): from "beginning", from "now",
 *   filtered by workspace (and kind); some stopped and restarted from their
 *   last cursor after a pause, sometimes longer than the prune age (they get
 *   `CursorExpired` and restart from a listing);
 * - durable consumers (scenarios/consumers.ts): several names, some stopped
 *   and restarted, one name run by both runtimes at once, handlers that fail
 *   now and then;
 * - a user-composed transaction now and then that writes only after waiting
 *   longer than the prune age (scenarios/transactions.ts);
 * - `prune({ olderThan })` with a short age, periodically
 *   (scenarios/prune.ts);
 * - faults (scenarios/faults.ts): `pg_terminate_backend` of the library's
 *   connections (all of them, or one) from a side connection, at random
 *   intervals; with `options.network` (a fault proxy in front of the second
 *   runtime) also connection resets, stalls (some longer than that
 *   runtime's statement timeout) and latency spikes.
 *
 * Invariants (`SoakReport.violations`, each counted and described), with
 * the module of their checks:
 * - `acknowledged-readable` (checks/writes.ts): every acknowledged put is in
 *   the database (its version id, document, number, workspace), and reads
 *   back through the library; a document is exempt once its deletion has
 *   begun;
 * - `versions-gapless` (checks/versions.ts): every document has versions
 *   1..n (so also version 1), and a writer's consecutive writes to its
 *   document are acknowledged as n, n+1; a shared key never acknowledges one
 *   number twice;
 * - `idempotent-retry` (checks/writes.ts): repeating a write with its
 *   version id returns the version first written, never a second one or a
 *   Conflict;
 * - `stream-order` (checks/streams.ts; a consumer's batches in
 *   checks/consumers.ts): each stream (across its restarts from its cursor)
 *   yields changes in strictly increasing (tx_id, id), never one twice,
 *   cursors never going back, each change matching the stream's filter;
 * - `stream-complete` (checks/streams.ts): at each check, the changes of
 *   `document_changes` matching the stream's filter between the last check
 *   and the stream's current cursor are exactly the ones it delivered (minus
 *   what prune deleted, and minus the range skipped by a restart from a
 *   listing);
 * - `caught-up-not-expired` (checks/expiry.ts): `CursorExpired` is counted,
 *   not a violation, unless the stream (or consumer) had already caught up
 *   with everything committed `pruneAge / 2` before;
 * - `prune-respects-age` (checks/prune.ts): no change that an unfiltered
 *   stream delivered with a `changedAt` younger than the prune age lies at
 *   or below the horizon a prune returned;
 * - `consumer-at-least-once` (checks/consumers.ts): every change up to a
 *   consumer's checkpoint was handed to a handler of that name
 *   (successfully);
 * - `checkpoint-monotonic` (checks/consumers.ts): a consumer's checkpoint
 *   never goes back;
 * - `consumer-exclusive` (checks/consumers.ts): two handlers of one name
 *   never run at once;
 * - `no-defects` (checks/operations.ts): every failure is a typed error;
 * - `no-hangs` (checks/operations.ts, checks/progress.ts): every operation
 *   finishes within `operationTimeout`; every live stream reaches what had
 *   committed `progressDeadline` earlier, and so does the checkpoint of
 *   every consumer name that has been running that long, whether or not
 *   those changes matched its filter (a quiet workspace, written less often
 *   than that, has a consumer of its own: without that rule its checkpoint
 *   could stay behind while it is caught up, then fall below the prune
 *   horizon).
 */
import { randomUUID } from "node:crypto"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import { checkConsumers } from "./checks/consumers.js"
import { checkStreamComplete } from "./checks/streams.js"
import { checkVersions } from "./checks/versions.js"
import { checkAcknowledged } from "./checks/writes.js"
import { type Harness, makeHarness } from "./harness.js"
import { type SoakOptions, settingsOf } from "./options.js"
import { operationTotal, reportOf, type SoakReport } from "./report.js"
import { sample } from "./samples.js"
import { consumer, consumerTrack } from "./scenarios/consumers.js"
import { faults } from "./scenarios/faults.js"
import { pruner } from "./scenarios/prune.js"
import { catchUp, liveStream } from "./scenarios/streams.js"
import { slowTransactions } from "./scenarios/transactions.js"
import { quietWriter, writer } from "./scenarios/writers.js"
import { elapsed, makeState } from "./state.js"

export type { NetworkFaults, SoakOptions } from "./options.js"
export { formatReport, type SoakReport, type Violation } from "./report.js"

/** One round of the checks against the database; `final` rechecks every acknowledged write. */
const checkAll = (h: Harness, final: boolean) =>
  Effect.gen(function*() {
    const ids = final ? [...h.state.acked.keys()] : h.state.uncheckedAcks
    h.state.uncheckedAcks = []
    yield* checkAcknowledged(h, ids)
    yield* checkVersions(h)
    for (const track of h.state.streamTracks) yield* checkStreamComplete(h, track)
    yield* checkConsumers(h)
  })

/** Every scenario of the load, as the fibers to run. */
const load = (h: Harness) => {
  const { inA, inB } = h
  const workspaces = h.settings.workspaces
  const [w0, w1, w2, w3] = [workspaces[0]!, workspaces[1]!, workspaces[2 % workspaces.length]!, workspaces[3 % workspaces.length]!]
  const indexer = consumerTrack(h, "indexer", {}, false)
  const exporter = consumerTrack(h, "exporter", { workspaceId: w1 }, true)
  const shared = consumerTrack(h, "shared", {}, false)
  const audit = consumerTrack(h, "audit", { workspaceId: w2, kind: "output" }, false)
  // A quiet workspace: a write less often than the progress deadline. Its readers see little of their own,
  // while the rest of the feed (and the prune horizon) moves on under them.
  const quietWorkspace = randomUUID()
  const quiet = consumerTrack(h, "quiet", { workspaceId: quietWorkspace }, true)
  const quietRestarting = consumerTrack(h, "quiet restarting", { workspaceId: quietWorkspace }, false)
  const lease = Duration.seconds(10)
  return [
    ...Array.from({ length: h.settings.writerCount }, (_, i) => writer(h, i, i % 3 === 2 ? inB : inA)),
    liveStream(h, inA, "all from beginning", {}, "beginning", false),
    liveStream(h, inA, "all from now", {}, "now", false),
    liveStream(h, inA, "ws0 from beginning", { workspaceId: w0 }, "beginning", false),
    liveStream(h, inA, "ws1 inputs from now", { workspaceId: w1, kind: "input" }, "now", false),
    liveStream(h, inB, "ws3 from now (B)", { workspaceId: w3 }, "now", false),
    liveStream(h, inA, "ws2 restarting", { workspaceId: w2 }, "now", true),
    liveStream(h, inA, "ws3 restarting", { workspaceId: w3 }, "beginning", true),
    liveStream(h, inB, "all restarting (B)", {}, "now", true),
    consumer(h, inA, indexer, true, lease),
    consumer(h, inA, exporter, false, lease),
    consumer(h, inA, shared, true, Duration.seconds(3)),
    consumer(h, inB, shared, true, Duration.seconds(3)),
    consumer(h, inB, audit, true, lease),
    consumer(h, inA, quiet, false, lease),
    consumer(h, inB, quietRestarting, true, lease),
    liveStream(h, inB, "quiet restarting (B)", { workspaceId: quietWorkspace }, "beginning", true),
    quietWriter(h, quietWorkspace),
    slowTransactions(h),
    faults(h),
    pruner(h),
    h.untilStopped(Effect.zipRight(Effect.sleep(Duration.millis(250)), sample(h)))
  ]
}

export const soak = (options: SoakOptions): Effect.Effect<SoakReport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = settingsOf(options)
    const state = makeState()
    const h = yield* makeHarness(settings, state)

    yield* sample(h)
    const fibers = yield* Effect.forEach(load(h), (actor) => Effect.forkDaemon(actor))

    let lastStatus = Date.now()
    while (Date.now() - state.started < settings.duration) {
      yield* Effect.sleep(Duration.millis(Math.min(settings.checkInterval, settings.duration - (Date.now() - state.started))))
      yield* checkAll(h, false)
      if (Date.now() - lastStatus >= 15_000) {
        lastStatus = Date.now()
        settings.log(
          `${elapsed(state).toFixed(0)}s: ${operationTotal(state.operations.counts)} operations, ${state.changesDelivered} changes delivered, ` +
            `${state.faultsInjected} faults, ${state.violationCount} violations`
        )
      }
    }

    // The end: stop the load, let the live streams catch up, check everything.
    state.running = false
    yield* Effect.forEach(fibers, (fiber) => Fiber.interrupt(fiber), { discard: true })
    yield* sample(h)
    const target = state.samples.at(-1)!.position
    // The continuous streams were interrupted with the rest: restart one session each from its cursor to settle.
    for (const track of state.streamTracks) yield* catchUp(h, track, target)
    yield* checkAll(h, true)
    return reportOf(state)
  })

/** Runs a soak on the database at `options.url` (it is migrated first). */
export const runSoak = (options: SoakOptions): Promise<SoakReport> => Effect.runPromise(Effect.scoped(soak(options)))
