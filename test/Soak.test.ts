/**
 * The short soak: the engine of `npm run soak` (soak/soak.ts) for 20 seconds
 * on a database of its own, with a short prune age and frequent faults. Every
 * invariant is checked while it runs; this asserts that none was violated and
 * that every kind of work actually happened, so the checks had something to
 * check.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { inject } from "vitest"
import { formatReport, runSoak } from "../soak/soak.js"
import { createDatabase } from "./support/Database.js"
import * as FaultProxy from "./support/faultProxy.js"

describe("Soak", () => {
  it.live(
    "20 s of writers, live streams, durable consumers, prune, killed connections and network faults: every invariant holds throughout",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const url = yield* Effect.promise(() => createDatabase("soak"))
        // The second runtime connects through the fault proxy: cuts, stalls and latency besides the killed backends.
        const proxy = yield* FaultProxy.scoped(inject("databaseUrl"))
        const report = yield* Effect.promise(() =>
          runSoak({
            url,
            duration: Duration.seconds(20),
            writers: 4,
            pruneAge: Duration.seconds(4),
            pruneInterval: Duration.seconds(1),
            faultInterval: [500, 2000],
            checkInterval: Duration.seconds(1),
            progressDeadline: Duration.seconds(10),
            network: {
              url: proxy.url,
              cut: proxy.cut,
              stall: proxy.stall,
              resume: proxy.resume,
              setLatency: (millis) => proxy.setLatency(millis, "both")
            }
          })
        )
        const summary = formatReport(report)
        expect(report.violations, summary).toEqual([])
        expect(report.violationCount).toBe(0)
        // Work happened in every category.
        const operations = report.operations
        expect(operations["put: new document (input)"], summary).toBeGreaterThan(0)
        expect(operations["put: next version"], summary).toBeGreaterThan(0)
        expect(operations["put: shared key"], summary).toBeGreaterThan(0)
        expect(operations["delete"], summary).toBeGreaterThan(0)
        expect(operations["put: in a transaction older than the prune age"], summary).toBeGreaterThan(0)
        expect(operations["prune"], summary).toBeGreaterThan(0)
        expect(operations["changes pruned"], summary).toBeGreaterThan(0)
        expect(operations["stream restart from its cursor"], summary).toBeGreaterThan(0)
        expect(operations["consumer restart"], summary).toBeGreaterThan(0)
        expect(report.faultsInjected, summary).toBeGreaterThan(0)
        expect(report.backendsTerminated, summary).toBeGreaterThan(0)
        expect(Object.keys(report.faultsByKind).some((kind) => kind.startsWith("network")), summary).toBe(true)
        expect(report.changesDelivered, summary).toBeGreaterThan(0)
        expect(report.changesHandled, summary).toBeGreaterThan(0)
        // The checks ran while the load did (about one round a second), not only at the end.
        expect(report.checks["stream-complete"], summary).toBeGreaterThan(10)
        expect(report.checks["consumer-at-least-once"], summary).toBeGreaterThan(5)
        expect(report.checks["acknowledged-readable"], summary).toBeGreaterThan(0)
        expect(report.checks["versions-gapless"], summary).toBeGreaterThan(5)
        expect(report.checks["prune-respects-age"], summary).toBeGreaterThan(5)
      })),
    { timeout: 120_000 }
  )
})
