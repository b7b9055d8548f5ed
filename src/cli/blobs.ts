/** `docstore blobs gc [--dry-run] [--grace AGE] [--json]`: deletes blobs that no version references. */
import { Command, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as DocumentBlobs from "../DocumentBlobs.js"
import * as Output from "./output.js"
import { ageOption } from "./age.js"
import { BlobsLive } from "./layers.js"

const gc = Command.make(
  "gc",
  {
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("List what would be removed; remove nothing.")),
    grace: ageOption("grace").pipe(
      Options.withDefault(Duration.days(1)),
      Options.withDescription("Keep unreferenced blobs younger than this (default 1d): uploads still being recorded.")
    ),
    json: Options.boolean("json").pipe(Options.withDescription("Print one JSON object a line."))
  },
  (options) =>
    Effect.gen(function*() {
      const blobs = yield* DocumentBlobs.DocumentBlobs
      const report = yield* blobs.gc({ grace: options.grace, dryRun: options.dryRun })
      const verb = report.dryRun ? "would remove" : "removed"
      for (const blob of report.removed) {
        yield* Console.log(
          options.json
            ? Output.jsonLine({ type: report.dryRun ? "would-remove" : "removed", ...blob })
            : `${verb} ${blob.key} (${blob.size} bytes, last modified ${blob.lastModified.toISOString()})`
        )
      }
      const { removed: _removed, ...counts } = report
      yield* Console.log(
        options.json
          ? Output.jsonLine({ type: "gc", ...counts, removed: report.removed.length })
          : `${verb} ${report.removed.length} blob(s), ${report.removedBytes} bytes; kept ${report.referenced} ` +
            `referenced and ${report.recent} younger than ${Duration.format(options.grace)} of ${report.scanned} scanned`
      )
    })
).pipe(Command.withDescription("Delete blobs that no version references and that are older than the grace period."))

export const blobs = Command.make("blobs").pipe(
  Command.withDescription("The blob store that holds versions' bytes."),
  Command.withSubcommands([gc]),
  Command.provide(BlobsLive)
)
