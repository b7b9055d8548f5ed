/**
 * What the commands share: the store's layers from the environment, and the
 * options and arguments several commands take.
 */
import { Args, Options } from "@effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Database from "../Database.js"
import * as DocumentChanges from "../DocumentChanges.js"
import * as Documents from "../Documents.js"
import * as NameKey from "../NameKey.js"

export const StoreLive = Layer.mergeAll(Documents.layer, DocumentChanges.layer()).pipe(
  Layer.provideMerge(Database.layerConfig)
)

export const json = Options.boolean("json").pipe(Options.withDescription("Print one JSON object a line."))
export const workspace = Options.text("workspace").pipe(Options.withDescription("The workspace id (a UUID)."))
export const kind = Options.choice("kind", NameKey.kinds)
export const documentId = Args.text({ name: "document-id" })

export const print = (lines: ReadonlyArray<string>) => Effect.forEach(lines, (line) => Console.log(line), { discard: true })
