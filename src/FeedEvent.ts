/**
 * What the change feed's stream yields: changes, and the signals between them.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type { Change } from "./Change.js"

/**
 * A transaction that holds the horizon back: changes committed after it
 * started wait until it ends.
 *
 * @since 0.1.0
 */
export interface Stall {
  readonly pid: number
  readonly applicationName: string
  readonly ageSeconds: number
}

/**
 * Only `Change` is a change; `CaughtUp` (once, when the history has been
 * read) and `Heartbeat` (while idle) are signals, and carry the stall that
 * delays delivery, if any. Every event carries the cursor to resume after it.
 *
 * @since 0.1.0
 */
export type FeedEvent = Data.TaggedEnum<{
  Change: { readonly change: Change; readonly cursor: string }
  CaughtUp: { readonly cursor: string; readonly stall: Stall | null }
  Heartbeat: { readonly cursor: string; readonly stall: Stall | null }
}>

/**
 * @since 0.1.0
 */
export const FeedEvent = Data.taggedEnum<FeedEvent>()
