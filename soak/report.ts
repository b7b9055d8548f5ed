/** What a soak found (`SoakReport`), and the report as plain-text tables. */
import { elapsed, type SoakState } from "./state.js"

export interface Violation {
  readonly invariant: string
  readonly description: string
  /** Seconds since the soak started. */
  readonly at: number
}

export interface SoakReport {
  readonly durationSeconds: number
  /** Operations done, by kind. */
  readonly operations: Readonly<Record<string, number>>
  /** Typed errors the operations got (expected under faults), by tag. */
  readonly typedErrors: Readonly<Record<string, number>>
  /** Change events delivered to live streams. */
  readonly changesDelivered: number
  /** Changes handed to consumer handlers that succeeded. */
  readonly changesHandled: number
  /** Faults injected (each terminating one or all library connections, or a network fault). */
  readonly faultsInjected: number
  readonly faultsByKind: Readonly<Record<string, number>>
  readonly backendsTerminated: number
  /** `CursorExpired` received by streams and consumers that were behind: acceptable, counted. */
  readonly cursorExpired: number
  /** Checks performed, by invariant. */
  readonly checks: Readonly<Record<string, number>>
  readonly violationCount: number
  readonly violationsByInvariant: Readonly<Record<string, number>>
  /** The first violations found (at most 50). */
  readonly violations: ReadonlyArray<Violation>
}

/** The invariants, in the order of soak/soak.ts's header and of the report's table. */
export const invariants = [
  "acknowledged-readable",
  "versions-gapless",
  "idempotent-retry",
  "stream-order",
  "stream-complete",
  "caught-up-not-expired",
  "prune-respects-age",
  "consumer-at-least-once",
  "checkpoint-monotonic",
  "consumer-exclusive",
  "no-defects",
  "no-hangs"
] as const

export const reportOf = (state: SoakState): SoakReport => ({
  durationSeconds: Math.round(elapsed(state)),
  operations: state.operations.counts,
  typedErrors: state.typedErrors.counts,
  changesDelivered: state.changesDelivered,
  changesHandled: state.changesHandled,
  faultsInjected: state.faultsInjected,
  faultsByKind: state.faultsByKind.counts,
  backendsTerminated: state.backendsTerminated,
  cursorExpired: state.cursorExpired,
  checks: state.checks.counts,
  violationCount: state.violationCount,
  violationsByInvariant: state.byInvariant.counts,
  violations: state.violations
})

/** Every operation but the count of pruned changes (which is not one). */
export const operationTotal = (operations: Readonly<Record<string, number>>) =>
  Object.entries(operations).filter(([name]) => name !== "changes pruned").reduce((a, [, n]) => a + n, 0)

/** The report as plain-text tables. */
export const formatReport = (report: SoakReport): string => {
  const table = (title: string, rows: ReadonlyArray<readonly [string, string | number]>) => {
    const width = Math.max(title.length, ...rows.map(([name]) => name.length))
    const valueWidth = Math.max(...rows.map(([, value]) => String(value).length), 1)
    return [
      `${title.padEnd(width)}  ${"".padStart(valueWidth)}`,
      `${"-".repeat(width)}  ${"-".repeat(valueWidth)}`,
      ...rows.map(([name, value]) => `${name.padEnd(width)}  ${String(value).padStart(valueWidth)}`)
    ].join("\n")
  }
  const sorted = (record: Readonly<Record<string, number>>) =>
    Object.entries(record).sort(([a], [b]) => a.localeCompare(b)) as ReadonlyArray<readonly [string, number]>
  return [
    table("summary", [
      ["duration (s)", report.durationSeconds],
      ["operations", operationTotal(report.operations)],
      ["changes delivered to live streams", report.changesDelivered],
      ["changes handled by consumers", report.changesHandled],
      ["faults injected", report.faultsInjected],
      ["library connections terminated", report.backendsTerminated],
      ["CursorExpired (behind the prune horizon, restarted)", report.cursorExpired],
      ["invariant violations", report.violationCount]
    ]),
    table("faults injected", sorted(report.faultsByKind)),
    table("operations", sorted(report.operations)),
    table("typed errors received", sorted(report.typedErrors).length > 0 ? sorted(report.typedErrors) : [["(none)", 0]]),
    table("checks", sorted(report.checks)),
    table("violations by invariant", invariants.map((name) => [name, report.violationsByInvariant[name] ?? 0] as const)),
    ...(report.violations.length > 0
      ? [["violations (first 50)", ...report.violations.map((v) => `  ${v.at}s ${v.invariant}: ${v.description}`)].join("\n")]
      : [])
  ].join("\n\n")
}
