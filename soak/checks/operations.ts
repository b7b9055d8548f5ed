/**
 * The checks of `no-defects` and of `no-hangs` for single operations
 * (definitions in soak/soak.ts's header): every operation of the load goes
 * through `guard`, the watchdog. A defect or a timeout is a violation; a
 * typed error (expected under faults) is counted.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { SoakState } from "../state.js"

/** The operation's exit, or None where it hung, died or was interrupted (a violation already recorded if it had to be). */
export type Guard = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<Option.Option<Exit.Exit<A, E>>, never, R>

export const guardOf = (
  operationTimeout: Duration.Duration,
  state: SoakState,
  violation: (invariant: string, description: string) => void
): Guard =>
<A, E, R>(label: string, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.timeoutOption(operationTimeout),
    Effect.exit,
    Effect.map((exit): Option.Option<Exit.Exit<A, E>> => {
      if (Exit.isSuccess(exit)) {
        if (Option.isNone(exit.value)) {
          violation("no-hangs", `${label} did not finish within ${Duration.format(operationTimeout)}`)
          return Option.none()
        }
        return Option.some(Exit.succeed(exit.value.value))
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        state.typedErrors.add((failure.value as { _tag?: string })?._tag ?? "untagged")
        return Option.some(Exit.fail(failure.value))
      }
      if (!Cause.isInterruptedOnly(exit.cause)) {
        violation("no-defects", `${label}: ${Cause.pretty(exit.cause).split("\n").slice(0, 3).join(" | ")}`)
      }
      return Option.none()
    })
  )

/** `no-defects` for a long-running session (a stream or consumer) that ended without a typed error. */
export const checkSessionEnd = (
  violation: (invariant: string, description: string) => void,
  label: string,
  cause: Cause.Cause<unknown>
) => {
  if (!Cause.isInterruptedOnly(cause)) violation("no-defects", `${label}: ${Cause.pretty(cause).split("\n")[0]}`)
}
