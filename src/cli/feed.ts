/**
 * The change-feed commands: `changes` and `prune`.
 */
import { Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as DocumentChanges from "../DocumentChanges.js"
import { InvalidInput } from "../Errors.js"
import { json, StoreLive, workspace } from "./common.js"
import * as Output from "./output.js"

/** Set when `changes --follow` runs: Ctrl-C is then its normal, successful end. */
export const follow = { interrupted: false }

export const changes = Command.make(
  "changes",
  {
    workspace: workspace.pipe(Options.optional),
    since: Options.text("since").pipe(Options.optional, Options.withDescription("Resume after this cursor.")),
    fromStart: Options.boolean("from-start").pipe(Options.withDescription("Start at the beginning of the feed.")),
    fromNow: Options.boolean("from-now").pipe(Options.withDescription("Only what commits from now on.")),
    follow: Options.boolean("follow").pipe(Options.withDescription("Keep streaming until interrupted (Ctrl-C).")),
    limit: Options.integer("limit").pipe(Options.optional, Options.withDescription("Stop after this many changes.")),
    json
  },
  (options) =>
    Effect.gen(function*() {
      const feed = yield* DocumentChanges.DocumentChanges
      const starts = [Option.isSome(options.since), options.fromStart, options.fromNow].filter(Boolean).length
      if (starts > 1) {
        return yield* new InvalidInput({ field: "--since", message: "--since, --from-start and --from-now exclude each other" })
      }
      const from = Option.getOrElse(options.since, () => options.fromNow ? "now" : "beginning")
      let lastCursor = Option.isSome(options.since) ? options.since.value : ""
      let counted = 0
      const limit = Option.getOrElse(options.limit, () => Number.POSITIVE_INFINITY)
      const out = (line: string) => Console.log(line)
      yield* feed.stream({
        from,
        ...Option.match(options.workspace, { onNone: () => ({}), onSome: (workspaceId) => ({ workspaceId }) })
      }).pipe(
        Stream.takeUntil((event) => {
          if (event._tag === "Change") counted++
          return (!options.follow && event._tag === "CaughtUp") || counted >= limit
        }),
        Stream.runForEach((event) =>
          DocumentChanges.FeedEvent.$match(event, {
            Change: ({ change, cursor }) => {
              lastCursor = cursor
              return out(options.json ? Output.jsonLine(Output.changeRecord(change, cursor)) : Output.changeLine(change))
            },
            CaughtUp: ({ cursor, stall }) => {
              lastCursor = cursor
              return Effect.zipRight(
                out(options.json ? Output.jsonLine({ type: "caught-up", cursor, stall }) : `-- caught up; cursor ${cursor}`),
                stall ? Console.error(Output.stallText(stall)) : Effect.void
              )
            },
            Heartbeat: ({ cursor, stall }) => {
              lastCursor = cursor
              return stall ? Console.error(Output.stallText(stall)) : Effect.void
            }
          })
        ),
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            follow.interrupted = options.follow
            process.stderr.write(`\nlast cursor: ${lastCursor}\n`)
          })
        )
      )
      if (!options.json && lastCursor && Option.isSome(options.limit)) yield* Console.log(`-- cursor ${lastCursor}`)
    })
).pipe(
  Command.withDescription("Print the change feed; with --follow, keep streaming until Ctrl-C (which prints the last cursor)."),
  Command.provide(StoreLive)
)

const parseAge = (text: string): Option.Option<Duration.Duration> => {
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

export const prune = Command.make(
  "prune",
  {
    olderThan: Options.text("older-than").pipe(
      Options.withDescription("An age such as 30d, 12h, 90m or '7 days'."),
      Options.mapEffect((text) =>
        Option.match(parseAge(text), {
          onNone: () =>
            Effect.fail(ValidationError.invalidValue(
              HelpDoc.p(`--older-than: "${text}" is not an age such as 30d, 12h or 90m`)
            )),
          onSome: Effect.succeed
        })
      )
    ),
    json
  },
  (options) =>
    Effect.gen(function*() {
      const feed = yield* DocumentChanges.DocumentChanges
      const pruned = yield* feed.prune({ olderThan: options.olderThan })
      yield* Console.log(
        options.json
          ? Output.jsonLine({ type: "pruned", ...pruned })
          : `pruned ${pruned.deleted} change(s) older than ${Duration.format(options.olderThan)}` +
            (pruned.horizon ? `; cursors before ${pruned.horizon} now expire` : "")
      )
    })
).pipe(Command.withDescription("Delete changes older than an age; older cursors then get CursorExpired."), Command.provide(StoreLive))

