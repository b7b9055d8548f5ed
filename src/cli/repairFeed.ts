/**
 * `docstore repair-feed [--force] [--json]`: the feed guard's remedy
 * (`FeedGuard.repair`): a new feed epoch, the history kept and re-stamped.
 */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Database from "../Database.js"
import * as FeedGuard from "../FeedGuard.js"
import * as Output from "./output.js"
import { verdictRecord } from "./health.js"

export const command = Command.make(
  "repair-feed",
  {
    force: Options.boolean("force").pipe(
      Options.withDescription("Start a new epoch even when the guard finds nothing wrong (every cursor expires).")
    ),
    json: Options.boolean("json").pipe(Options.withDescription("Print one JSON object."))
  },
  (options) =>
    Effect.gen(function*() {
      const repaired = yield* FeedGuard.repair({ force: options.force })
      yield* Console.log(
        options.json
          ? Output.jsonLine({ type: "repaired", ...repaired, verdict: verdictRecord(repaired.verdict) })
          : repaired.repaired
          ? `new feed epoch ${repaired.epoch} (was ${repaired.previousEpoch}; guard said ${repaired.verdict._tag}); ` +
            `${repaired.restamped} change(s) kept and re-stamped. Cursors of the old epoch now get CursorExpired: ` +
            `consumers refetch (list, then stream from the listing's cursor); delete a durable consumer's row ` +
            `in document_consumers to restart it from its startFrom`
          : `the feed guard finds nothing to repair (${repaired.verdict._tag}); nothing changed (--force starts a new epoch anyway)`
      )
    })
).pipe(
  Command.withDescription("Start a new change-feed epoch after a logical restore (the feed guard's remedy)."),
  Command.provide(Database.layerConfig)
)
