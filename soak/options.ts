/**
 * What a soak is asked to do (`SoakOptions`), and the same with every default
 * filled in (`Settings`), which is what the scenarios and checks read.
 */
import { randomUUID } from "node:crypto"
import * as Duration from "effect/Duration"

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

/** The options with their defaults; durations in milliseconds unless they are `Duration`s. */
export interface Settings {
  readonly url: string
  readonly duration: number
  readonly writerCount: number
  readonly pruneAge: Duration.Duration
  readonly pruneAgeMs: number
  readonly pruneInterval: number
  readonly faultMin: number
  readonly faultMax: number
  readonly checkInterval: number
  readonly operationTimeout: Duration.Duration
  readonly progressDeadline: number
  readonly network: NetworkFaults | undefined
  readonly log: (line: string) => void
  /** The workspaces the writers write to (new ids each soak). */
  readonly workspaces: ReadonlyArray<string>
}

export const settingsOf = (options: SoakOptions): Settings => {
  const pruneAge = Duration.decode(options.pruneAge ?? Duration.seconds(20))
  const [faultMin, faultMax] = options.faultInterval ?? [1000, 5000]
  return {
    url: options.url,
    duration: Duration.toMillis(options.duration),
    writerCount: options.writers ?? 6,
    pruneAge,
    pruneAgeMs: Duration.toMillis(pruneAge),
    pruneInterval: Duration.toMillis(options.pruneInterval ?? Duration.seconds(4)),
    faultMin,
    faultMax,
    checkInterval: Duration.toMillis(options.checkInterval ?? Duration.seconds(2)),
    operationTimeout: Duration.decode(options.operationTimeout ?? Duration.seconds(30)),
    progressDeadline: Duration.toMillis(options.progressDeadline ?? Duration.seconds(30)),
    network: options.network,
    log: options.log ?? (() => {}),
    workspaces: Array.from({ length: options.workspaces ?? 4 }, () => randomUUID())
  }
}
