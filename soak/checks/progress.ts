/**
 * The checks of `no-hangs` beyond single operations (checks/operations.ts):
 * live streams and running consumers keep up with what committed
 * `progressDeadline` ago; the definition is in soak/soak.ts's header.
 */
import type { Harness } from "../harness.js"
import { compare, type Position, show } from "../position.js"
import { committedBy } from "../samples.js"
import type { ConsumerTrack, StreamTrack } from "../state.js"

/** A live stream, checked up to `upTo`, is not behind what committed `progressDeadline` ago. */
export const checkStreamProgress = (h: Harness, track: StreamTrack, upTo: Position) => {
  const deadline = h.settings.progressDeadline
  const reference = committedBy(h, Date.now() - deadline)
  if (track.live && track.liveSince !== null && track.liveSince < Date.now() - deadline && reference !== null) {
    h.state.checks.add("no-hangs (stream progress)")
    if (compare(upTo, reference) < 0) {
      h.violation("no-hangs", `${track.name} is at ${show(upTo)}, behind ${show(reference)} that committed ${deadline / 1000}s ago`)
    }
  }
}

/** While some process of the name runs, its checkpoint follows the feed. */
export const checkConsumerProgress = (h: Harness, track: ConsumerTrack) => {
  const deadline = h.settings.progressDeadline
  const reference = committedBy(h, Date.now() - deadline)
  if (track.runningSince !== null && track.runningSince < Date.now() - deadline && reference !== null) {
    h.state.checks.add("no-hangs (consumer progress)")
    if (compare(track.checkpoint!, reference) < 0) {
      h.violation(
        "no-hangs",
        `consumer ${track.name}'s checkpoint ${show(track.checkpoint)} is behind ${show(reference)}, committed ${deadline / 1000}s ago`
      )
    }
  }
}
