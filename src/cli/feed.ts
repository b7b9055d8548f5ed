/**
 * The change-feed commands: `changes` and `prune`.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as DocumentChanges from "../DocumentChanges.js"
import { InvalidInput } from "../Errors.js"
import { json, StoreLive, workspace } from "./common.js"
import { ageOption } from "./age.js"
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

export const prune = Command.make(
  "prune",
  {
    olderThan: ageOption("older-than"),
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

