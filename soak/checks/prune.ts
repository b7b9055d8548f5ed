/**
 * The check of `prune-respects-age` (no young delivered change at or below
 * the horizon a prune returned); its definition is in soak/soak.ts's header.
 */
import * as Effect from "effect/Effect"
import type { Harness } from "../harness.js"
import { compare, type Position, show } from "../position.js"

/** After a prune that moved the horizon to `horizon` (null: no horizon yet). */
export const checkPruneRespectsAge = (h: Harness, horizon: Position | null) =>
  Effect.gen(function*() {
    const pruneAgeMs = h.settings.pruneAgeMs
    // The server's clock, read after prune's: a change younger than the age by it was young for prune too.
    const [clock] = yield* h.query<{ now: number }>(h.checker, `SELECT (extract(epoch FROM now()) * 1000)::float8 AS now`)
    const youngFrom = clock!.now - pruneAgeMs
    h.state.checks.add("prune-respects-age")
    if (horizon !== null) {
      const young = h.state.deliveredAges.filter((d) => d.changedAt >= youngFrom && compare(d.position, horizon) <= 0)
      if (young.length > 0) {
        h.violation(
          "prune-respects-age",
          `prune({ olderThan: ${pruneAgeMs / 1000}s }) moved the horizon to ${show(horizon)}, over ${young.length} changes ` +
            `younger than that, e.g. ${show(young[0]!.position)} of ${((clock!.now - young[0]!.changedAt) / 1000).toFixed(1)}s`
        )
      }
    }
    // What is three prune ages old cannot be at stake any more.
    h.state.deliveredAges = h.state.deliveredAges.filter((d) => d.changedAt >= clock!.now - 3 * pruneAgeMs)
  })
