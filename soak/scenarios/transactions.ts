/**
 * A user-composed transaction now and then that begins, waits longer than
 * the prune age, then writes: its change carries its transaction's start
 * time (old) and its transaction id (new) at once. It runs on a runtime of
 * its own, whose connections the faults do not terminate.
 */
import { randomUUID } from "node:crypto"
import { SqlClient } from "@effect/sql"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Documents from "../../src/Documents.js"
import { acknowledge } from "../checks/writes.js"
import type { Harness } from "../harness.js"
import { pick, random } from "../random.js"
import { versionInput } from "./writers.js"

export const slowTransactions = (h: Harness) =>
  h.untilStopped(Effect.gen(function*() {
    const pruneAgeMs = h.settings.pruneAgeMs
    yield* h.pause(random(0.5, 1) * pruneAgeMs)
    if (!h.state.running) return
    const workspaceId = pick(h.settings.workspaces)
    const name = `slow-${randomUUID()}.txt`
    const version = versionInput(name)
    const outcome = yield* h.guard(
      "slow transaction",
      Effect.provide(
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const documents = yield* Documents.Documents
          return yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`SELECT 1`
            yield* Effect.sleep(Duration.millis(random(1.1, 1.4) * pruneAgeMs))
            return yield* documents.put({ kind: "input", workspaceId, name, version })
          }))
        }),
        h.slow
      )
    )
    if (Option.isNone(outcome) || Exit.isFailure(outcome.value)) return
    h.state.operations.add("put: in a transaction older than the prune age")
    acknowledge(h, version.id, { workspaceId, documentId: outcome.value.value.document.id, versionNo: 1 })
  }))
