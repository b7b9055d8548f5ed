/**
 * The checks of `versions-gapless` (versions 1..n, consecutive writes
 * acknowledged as n, n+1, no number acknowledged twice); its definition is
 * in soak/soak.ts's header.
 */
import * as Effect from "effect/Effect"
import type { Harness } from "../harness.js"

export const checkFirstVersion = (h: Harness, documentId: string, versionNo: number) => {
  if (versionNo !== 1) h.violation("versions-gapless", `a new document ${documentId} was acknowledged as version ${versionNo}`)
}

/** The writer's next write to its document `expected` was acknowledged as `stored`. */
export const checkNextVersion = (
  h: Harness,
  expected: { readonly documentId: string; readonly versionNo: number },
  stored: { readonly documentId: string; readonly versionNo: number }
) => {
  if (stored.documentId !== expected.documentId) {
    h.violation("versions-gapless", `the next version of ${expected.documentId} went to another document ${stored.documentId}`)
  } else if (stored.versionNo !== expected.versionNo + 1) {
    h.violation(
      "versions-gapless",
      `after v${expected.versionNo} of ${expected.documentId} the next write was acknowledged as v${stored.versionNo}`
    )
  }
}

/** Records the number a write to a shared key was acknowledged as; no other write may have got it. */
export const checkSharedVersion = (h: Harness, documentId: string, versionNo: number, versionId: string) => {
  const numbers = h.state.sharedVersions.get(documentId) ?? new Map<number, string>()
  h.state.sharedVersions.set(documentId, numbers)
  const other = numbers.get(versionNo)
  if (other !== undefined && other !== versionId) {
    h.violation("versions-gapless", `shared document ${documentId} acknowledged v${versionNo} to two writes`)
  }
  numbers.set(versionNo, versionId)
}

/** In the database: documents without versions, or whose versions are not numbered 1..n (the first 5 reported). */
export const checkVersions = (h: Harness) =>
  Effect.gen(function*() {
    const rows = yield* h.query<{ id: string; versions: string; lowest: number | null; highest: number | null }>(
      h.checker,
      `SELECT f.id, count(v.id)::text AS versions, min(v.version_no) AS lowest, max(v.version_no) AS highest
       FROM files f LEFT JOIN file_versions v ON v.file_id = f.id
       GROUP BY f.id
       HAVING count(v.id) = 0 OR min(v.version_no) <> 1 OR max(v.version_no) <> count(v.id)`
    )
    h.state.checks.add("versions-gapless")
    for (const row of rows.slice(0, 5)) {
      h.violation("versions-gapless", `document ${row.id} has ${row.versions} versions numbered ${row.lowest}..${row.highest}`)
    }
  })
