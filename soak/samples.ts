/**
 * What committed when: samples (every 250 ms) of the highest change below
 * the horizon, so that the checks can ask what had committed by a moment
 * (the progress watchdog, the caught-up rule of `CursorExpired`).
 */
import * as Effect from "effect/Effect"
import type { Harness } from "./harness.js"
import { max, type Position, positionOfRow, zero } from "./position.js"

export const sample = (h: Harness) =>
  Effect.gen(function*() {
    const { samples } = h.state
    const rows = yield* h.query<{ tx: string | null; id: string | null }>(
      h.sampler,
      `SELECT tx_id::text AS tx, id::text AS id FROM document_changes
       WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx_id DESC, id DESC LIMIT 1`
    )
    const row = rows[0]
    const position = positionOfRow(row?.tx, row?.id) ?? samples.at(-1)?.position ?? zero
    samples.push({ at: Date.now(), position: max(samples.at(-1)?.position ?? null, position) })
    const keep = 3 * Math.max(h.settings.progressDeadline, h.settings.pruneAgeMs)
    while (samples.length > 2 && samples[1]!.at < Date.now() - keep) samples.shift()
  })

/** The highest change that had committed (below the horizon) by `at`, if sampled. */
export const committedBy = (h: Harness, at: number): Position | null => {
  let found: Position | null = null
  for (const s of h.state.samples) {
    if (s.at > at) break
    found = s.position
  }
  return found
}
