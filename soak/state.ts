/**
 * The soak's shared state: the counters the report is made of, and what the
 * scenarios record (acknowledged writes, the tracks of streams and
 * consumers, samples of the log) for the checks to compare with the
 * database. One `SoakState` per soak, mutated by its fibers in turn (they
 * run on one JavaScript thread: no update is torn).
 */
import type { Filter, Position } from "./position.js"
import type { Violation } from "./report.js"

export class Tally {
  readonly counts: Record<string, number> = {}
  add(name: string, n = 1) {
    this.counts[name] = (this.counts[name] ?? 0) + n
  }
}

/** What the caller of a put was told. */
export interface Acked {
  readonly workspaceId: string
  readonly documentId: string
  readonly versionNo: number
}

/** One logical stream, across its restarts. */
export interface StreamTrack {
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
export interface ConsumerTrack {
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

/** The highest change below the horizon at a moment (ms). */
export interface Sample {
  readonly at: number
  readonly position: Position
}

/** A change an unfiltered stream delivered, with its `changedAt` (ms): prune must not have deleted a young one. */
export interface DeliveredAge {
  readonly position: Position
  readonly changedAt: number
}

export interface SoakState {
  /** When the soak started (ms). */
  readonly started: number
  /** False once the load is to stop. */
  running: boolean
  // ---- the report's counters
  readonly operations: Tally
  readonly typedErrors: Tally
  readonly checks: Tally
  readonly byInvariant: Tally
  readonly faultsByKind: Tally
  /** The first 50 violations. */
  readonly violations: Array<Violation>
  violationCount: number
  faultsInjected: number
  backendsTerminated: number
  cursorExpired: number
  changesDelivered: number
  changesHandled: number
  // ---- what committed when (soak/samples.ts)
  readonly samples: Array<Sample>
  // ---- writes (soak/scenarios/writers.ts)
  /** Version id -> what the caller was told. */
  readonly acked: Map<string, Acked>
  /** Acknowledged since the last check. */
  uncheckedAcks: Array<string>
  /** Document ids whose deletion has begun. */
  readonly deleting: Set<string>
  /** Shared document -> version no -> version id. */
  readonly sharedVersions: Map<string, Map<number, string>>
  // ---- streams and consumers (soak/scenarios/streams.ts, consumers.ts)
  readonly streamTracks: Array<StreamTrack>
  deliveredAges: Array<DeliveredAge>
  readonly consumerTracks: Array<ConsumerTrack>
}

export const makeState = (): SoakState => ({
  started: Date.now(),
  running: true,
  operations: new Tally(),
  typedErrors: new Tally(),
  checks: new Tally(),
  byInvariant: new Tally(),
  faultsByKind: new Tally(),
  violations: [],
  violationCount: 0,
  faultsInjected: 0,
  backendsTerminated: 0,
  cursorExpired: 0,
  changesDelivered: 0,
  changesHandled: 0,
  samples: [],
  acked: new Map(),
  uncheckedAcks: [],
  deleting: new Set(),
  sharedVersions: new Map(),
  streamTracks: [],
  deliveredAges: [],
  consumerTracks: []
})

/** Seconds since the soak started. */
export const elapsed = (state: SoakState) => (Date.now() - state.started) / 1000
