/**
 * Retries: a version id written before may only be written again by the very
 * same request, which then replays the version first written.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { Conflict } from "../../Errors.js"
import * as NameKey from "../../NameKey.js"
import type { Version } from "../../Version.js"
import { pgCode } from "../sqlError.js"
import { keySource, type Put, runOf, sourceOf } from "./keys.js"

/** The document a stored version belongs to, as a retry must name it again. */
export interface StoredTarget {
  readonly workspaceId: string
  readonly kind: string
  readonly nameKey: string
}

const versionTaken = (versionId: string | null) =>
  new Conflict({
    message: `${versionId === null ? "a version id of this request" : `version ${versionId}`} was already written ` +
      `with a different document; a retry must repeat the original write exactly`
  })

export const versionIdTaken = (error: unknown) =>
  error instanceof SqlError && pgCode(error).constraint === "file_versions_pkey"

/**
 * A concurrent writer used one of our version ids first: the second try finds its version and replays
 * (or conflicts). Taken again, it was by a write this role cannot see (another workspace, under isolation).
 */
export const raceOnVersionId = <A, E, R>(attempt: Effect.Effect<A, E, R>, versionId: string | null) =>
  attempt.pipe(
    Effect.catchIf(versionIdTaken, () => attempt),
    Effect.catchIf(versionIdTaken, () => Effect.fail(versionTaken(versionId)))
  )

/** What a retried write must repeat exactly. */
const sameMetadata = (stored: Version, wanted: { readonly [K in keyof Version]?: unknown }): string | undefined => {
  for (const field of ["storageKey", "storageVersionId", "contentType", "byteSize", "sha256"] as const) {
    if (stored[field] !== (wanted[field] ?? null)) return field
  }
  return undefined
}

export const replayConflict = (request: Put, contentType: string | null, stored: Version, target: StoredTarget) => {
  const keyless = request.kind === "output" && sourceOf(request) === null && runOf(request) === null
  const sameTarget = target.workspaceId === request.workspaceId && target.kind === request.kind &&
    (keyless || target.nameKey === NameKey.nameKey(keySource(request, "")))
  const different = sameTarget
    ? sameMetadata(stored, { ...request.version, byteSize: BigInt(request.version.byteSize), contentType })
    : "document"
  return different === undefined ? Effect.void : Effect.fail(
    new Conflict({
      message: `version ${stored.id} was already written with a different ${different}; ` +
        `a retry must repeat the original write exactly`
    })
  )
}
