/**
 * What a write request's kind makes of its document's key, and the lock that
 * orders writers of one key.
 */
import type { SqlClient } from "@effect/sql"
import type * as Statement from "@effect/sql/Statement"
import * as ContentType from "../../ContentType.js"
import * as NameKey from "../../NameKey.js"
import type { FindRequest, PutRequest } from "./requests.js"

export type Put = typeof PutRequest.Type

export const sourceOf = (request: Put) => request.kind === "output" ? request.sourceDocumentId ?? null : null
export const runOf = (request: Put) =>
  request.kind === "output" || request.kind === "log" ? request.runId ?? null : null

/** Whether the document's own id is in its key: an output with neither source nor run (see `keySource`). */
export const keyedByOwnId = (request: Put) => request.kind === "output" && sourceOf(request) === null && runOf(request) === null

export const keySource = (request: Put, documentId: string): NameKey.KeySource => {
  switch (request.kind) {
    case "input":
      return { kind: "input", name: request.name }
    case "output":
      return { kind: "output", sourceFileId: sourceOf(request), runId: runOf(request), id: documentId }
    case "log":
      return { kind: "log", runId: request.runId }
    case "export":
      return { kind: "export", exportJobId: request.exportJobId }
  }
}

export const findKey = (request: typeof FindRequest.Type): string => {
  switch (request.kind) {
    case "input":
      return NameKey.nameKey({ kind: "input", name: request.name })
    case "output":
      return "sourceDocumentId" in request
        ? NameKey.nameKey({ kind: "output", sourceFileId: request.sourceDocumentId, runId: null, id: "" })
        : NameKey.nameKey({ kind: "output", sourceFileId: null, runId: request.runId, id: "" })
    case "log":
      return NameKey.nameKey({ kind: "log", runId: request.runId })
    case "export":
      return NameKey.nameKey({ kind: "export", exportJobId: request.exportJobId })
  }
}

export const contentTypeOf = (request: Put) =>
  request.version.contentType ?? (request.kind === "input" ? null : ContentType.infer(request.name))

/** The class (first key) of the advisory locks on document keys: "dkey" in ASCII. */
export const keyLockClass = 0x646b6579

/**
 * The lock `put` and `delete` take on a document's key before they write. A transaction gets the id
 * that orders its changes in the feed at its first write, and an INSERT racing to create a key, or a
 * DELETE, gets it before waiting for the row: without this lock, the feed could deliver a new
 * document's version 3 before its version 2, or a deletion before a version committed ahead of it.
 * Queued here instead, each writer gets its id after the previous one committed.
 */
export const keyLock = (
  sql: SqlClient.SqlClient,
  workspaceId: Statement.Fragment,
  kind: Statement.Fragment,
  nameKey: Statement.Fragment
) => sql`pg_advisory_xact_lock(${keyLockClass}, hashtext(${workspaceId}::text || '/' || ${kind} || '/' || ${nameKey}))`
