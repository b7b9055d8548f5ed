/**
 * The faults, at random intervals: `pg_terminate_backend` of the library's
 * connections (all of them, or one) from a side connection; with
 * `options.network` (a fault proxy in front of the second runtime) also
 * connection resets, stalls (some longer than that runtime's statement
 * timeout) and latency spikes.
 */
import * as Effect from "effect/Effect"
import type { Harness } from "../harness.js"
import type { NetworkFaults } from "../options.js"
import { random } from "../random.js"

const networkFault = (h: Harness, network: NetworkFaults) =>
  Effect.gen(function*() {
    const faultsByKind = h.state.faultsByKind
    const roll = Math.random()
    if (roll < 0.4) {
      network.cut()
      faultsByKind.add("network: every connection of runtime B reset")
    } else if (roll < 0.75) {
      // Some stalls outlast runtime B's statement timeout (5 s): its client must notice the silence.
      const millis = Math.random() < 0.25 ? random(6000, 8000) : random(300, 3000)
      network.stall()
      faultsByKind.add(millis > 5000 ? "network: runtime B stalled 6-8 s" : "network: runtime B stalled 0.3-3 s")
      yield* h.pause(millis).pipe(Effect.ensuring(Effect.sync(() => network.resume())))
    } else {
      network.setLatency(Math.round(random(20, 200)))
      faultsByKind.add("network: 20-200 ms latency on runtime B for 1-4 s")
      yield* h.pause(random(1000, 4000)).pipe(Effect.ensuring(Effect.sync(() => network.setLatency(0))))
    }
    h.state.faultsInjected++
  })

const terminateBackends = (h: Harness) =>
  Effect.gen(function*() {
    const all = Math.random() < 0.6
    h.state.faultsByKind.add(all ? "pg_terminate_backend: every library connection" : "pg_terminate_backend: one library connection")
    const rows = yield* h.query<{ pid: number }>(
      h.faulter,
      `SELECT pid, pg_terminate_backend(pid) FROM (
         SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE 'effect-docstore%' AND pid <> pg_backend_pid()
         ${all ? "" : "ORDER BY random() LIMIT 1"}
       ) library`
    )
    h.state.faultsInjected++
    h.state.backendsTerminated += rows.length
  })

export const faults = (h: Harness) =>
  h.untilStopped(Effect.gen(function*() {
    yield* h.pause(random(h.settings.faultMin, h.settings.faultMax))
    if (!h.state.running) return
    const network = h.settings.network
    if (network && Math.random() < 0.4) return yield* networkFault(h, network)
    yield* terminateBackends(h)
  }))
