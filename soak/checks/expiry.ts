/**
 * The checks of `caught-up-not-expired` (`CursorExpired` only for who was
 * behind); its definition is in soak/soak.ts's header.
 */
import type { Harness } from "../harness.js"
import { compare, type Position, show, zero } from "../position.js"
import { committedBy } from "../samples.js"
import type { StreamTrack } from "../state.js"

/** Was the stream (or consumer) at `position` caught up with what had committed half a prune age ago? */
export const wasCaughtUp = (h: Harness, position: Position | null) => {
  const reference = committedBy(h, Date.now() - h.settings.pruneAgeMs / 2)
  return position !== null && reference !== null && compare(reference, zero) > 0 && compare(position, reference) >= 0
}

/** A live stream got `CursorExpired`. */
export const checkStreamExpiry = (h: Harness, track: StreamTrack, reason: string) => {
  if (track.live && wasCaughtUp(h, track.known)) {
    h.violation("caught-up-not-expired", `${track.name} at ${show(track.known)} had caught up, yet got CursorExpired (${reason})`)
  }
}

/** The horizon passed the stored checkpoint of consumer `name`. */
export const checkConsumerExpiry = (h: Harness, name: string, stored: Position, horizon: Position, reason: string | undefined) => {
  if (wasCaughtUp(h, stored)) {
    h.violation(
      "caught-up-not-expired",
      `consumer ${name}'s checkpoint ${show(stored)} had caught up, yet the horizon ${show(horizon)} passed it (${reason})`
    )
  }
}
