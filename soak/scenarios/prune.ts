/** `prune({ olderThan })` with a short age, every `pruneInterval`, each followed by its check. */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as DocumentChanges from "../../src/DocumentChanges.js"
import { checkPruneRespectsAge } from "../checks/prune.js"
import type { Harness } from "../harness.js"
import { decodeCursor } from "../position.js"

export const pruner = (h: Harness) =>
  h.untilStopped(Effect.gen(function*() {
    yield* h.pause(h.settings.pruneInterval)
    if (!h.state.running) return
    const outcome = yield* h.guard(
      "prune",
      h.inA(Effect.flatMap(DocumentChanges.DocumentChanges, (feed) => feed.prune({ olderThan: h.settings.pruneAge })))
    )
    if (Option.isSome(outcome) && Exit.isSuccess(outcome.value)) {
      const pruned = outcome.value.value
      h.state.operations.add("prune")
      h.state.operations.add("changes pruned", pruned.deleted)
      yield* checkPruneRespectsAge(h, pruned.horizon === null ? null : decodeCursor(pruned.horizon))
    }
  }))
