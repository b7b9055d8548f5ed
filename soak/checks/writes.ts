/**
 * The checks of `acknowledged-readable` (an acknowledged put is in the
 * database and reads back through the library) and `idempotent-retry` (a
 * repeated write returns the version first written); their definitions are
 * in soak/soak.ts's header.
 */
import * as Effect from "effect/Effect"
import type { Harness } from "../harness.js"
import type { Acked } from "../state.js"

interface TaggedError {
  readonly _tag?: string
  readonly message?: string
}

/** Records what the caller of a put was told; one version id is acknowledged as one version only. */
export const acknowledge = (h: Harness, versionId: string, ack: Acked) => {
  const before = h.state.acked.get(versionId)
  if (before && (before.documentId !== ack.documentId || before.versionNo !== ack.versionNo)) {
    h.violation(
      "idempotent-retry",
      `version id ${versionId} was acknowledged as ${before.documentId} v${before.versionNo} and later as ${ack.documentId} v${ack.versionNo}`
    )
  }
  if (!before) h.state.uncheckedAcks.push(versionId)
  h.state.acked.set(versionId, ack)
}

/** A first attempt at a write is never a replay. */
export const checkFirstWrite = (h: Harness, label: string, versionId: string | undefined, attempt: number, replayed: boolean) => {
  if (attempt === 0 && replayed) h.violation("idempotent-retry", `${label}: a first write of version ${versionId} came back replayed`)
}

/** A put failed with something other than `DatabaseError`: a retry's Conflict breaks idempotence, anything else the write. */
export const unexpectedPutError = (h: Harness, label: string, attempt: number, error: TaggedError) =>
  h.violation(
    attempt > 0 && error._tag === "Conflict" ? "idempotent-retry" : "acknowledged-readable",
    `${label}: unexpected ${error._tag}: ${error.message}`
  )

export const unexpectedDeleteError = (h: Harness, documentId: string, error: TaggedError) =>
  h.violation("acknowledged-readable", `delete of ${documentId}: unexpected ${error._tag}: ${error.message}`)

/** A read back of an acknowledged version failed with something other than `DatabaseError`. */
export const checkReadBackError = (h: Harness, documentId: string, versionNo: number, error: TaggedError) => {
  if (error._tag !== "DatabaseError") h.violation("acknowledged-readable", `${documentId} v${versionNo}: ${error._tag}: ${error.message}`)
}

/** Through the library: the document and the version acknowledged as `versionNo`. */
export const checkReadBack = (
  h: Harness,
  expected: { readonly documentId: string; readonly versionNo: number; readonly versionId: string | undefined },
  read: { readonly documentId: string; readonly versionId: string }
) => {
  h.state.checks.add("acknowledged-readable (through the library)")
  if (read.documentId !== expected.documentId || read.versionId !== expected.versionId) {
    h.violation(
      "acknowledged-readable",
      `${expected.documentId} v${expected.versionNo} read back as ${read.versionId}, acknowledged ${expected.versionId}`
    )
  }
}

/** In the database: the acknowledged versions `ids`, 5000 to a query. */
export const checkAcknowledged = (h: Harness, ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { acked, deleting } = h.state
    for (let i = 0; i < ids.length; i += 5000) {
      const chunk = ids.slice(i, i + 5000).filter((id) => !deleting.has(acked.get(id)!.documentId))
      const rows = yield* h.query<{ id: string; fileId: string; versionNo: number; workspaceId: string }>(
        h.checker,
        `SELECT v.id, v.file_id AS "fileId", v.version_no AS "versionNo", f.workspace_id AS "workspaceId"
         FROM file_versions v JOIN files f ON f.id = v.file_id WHERE v.id = ANY($1::uuid[])`,
        [chunk]
      )
      const found = new Map(rows.map((row) => [row.id, row]))
      for (const id of chunk) {
        const ack = acked.get(id)!
        const row = found.get(id)
        h.state.checks.add("acknowledged-readable")
        if (row === undefined) {
          // Its deletion may have begun after the chunk was chosen.
          if (!deleting.has(ack.documentId)) {
            h.violation("acknowledged-readable", `acknowledged version ${id} (${ack.documentId} v${ack.versionNo}) is not in the database`)
          }
        } else if (row.fileId !== ack.documentId || row.versionNo !== ack.versionNo || row.workspaceId !== ack.workspaceId) {
          h.violation(
            "acknowledged-readable",
            `version ${id} was acknowledged as ${ack.documentId} v${ack.versionNo}, stored as ${row.fileId} v${row.versionNo}`
          )
        }
      }
    }
  })
