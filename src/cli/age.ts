/** Ages on the command line: `30d`, `12h`, `90m`, `7 days`. */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

export const parseAge = (text: string): Option.Option<Duration.Duration> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|millis|seconds?|minutes?|hours?|days?|weeks?)\s*$/i.exec(text)
  if (!match) return Option.none()
  const amount = Number(match[1])
  const unit = match[2]!.toLowerCase()
  const millis = unit === "ms" || unit === "millis"
    ? 1
    : unit.startsWith("s")
    ? 1000
    : unit === "m" || unit.startsWith("minute")
    ? 60_000
    : unit.startsWith("h")
    ? 3_600_000
    : unit.startsWith("d")
    ? 86_400_000
    : 604_800_000
  return Option.some(Duration.millis(amount * millis))
}

/** An option holding an age; anything else is a usage error naming the option. */
export const ageOption = (name: string) =>
  Options.text(name).pipe(
    Options.withDescription("An age such as 30d, 12h, 90m or '7 days'."),
    Options.mapEffect((text) =>
      Option.match(parseAge(text), {
        onNone: () =>
          Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name}: "${text}" is not an age such as 30d, 12h or 90m`))),
        onSome: Effect.succeed
      })
    )
  )
