/**
 * The row of `put`'s write statement (the document's columns, then its new
 * version's), as `Document` and `Version`.
 *
 * The statement and its column types are ours, so the values are built
 * without running the schemas again: decoding the row with `Schema` cost
 * about as much Node CPU as the rest of `put` above `pg`. The row is read
 * without the client's key renaming. test/WrittenRow.test.ts checks that both
 * give the same `Document` and `Version` for any row.
 */
import type { Kind } from "../../Document.js"
import { Document } from "../../Document.js"
import type { DocumentId, RunId, VersionId, WorkspaceId } from "../../Ids.js"
import { Version } from "../../Version.js"

/** The row as PostgreSQL names its columns. */
export interface Row {
  readonly id: string
  readonly workspace_id: string
  readonly kind: string
  readonly name: string
  readonly name_key: string
  readonly source_file_id: string | null
  readonly run_id: string | null
  readonly created_at: Date
  readonly updated_at: Date
  readonly version_id: string
  readonly version_no: number
  readonly storage_key: string
  readonly storage_version_id: string | null
  readonly content_type: string | null
  readonly byte_size: bigint
  readonly sha256: string | null
  readonly version_created_at: Date
}

export const document = (row: Row): Document =>
  new Document({
    id: row.id as DocumentId,
    workspaceId: row.workspace_id as WorkspaceId,
    kind: row.kind as Kind,
    name: row.name,
    nameKey: row.name_key,
    sourceDocumentId: row.source_file_id as DocumentId | null,
    runId: row.run_id as RunId | null,
    createdAt: row.created_at,
    updatedAt: row.updated_at
  }, true)

export const version = (row: Row): Version =>
  new Version({
    id: row.version_id as VersionId,
    documentId: row.id as DocumentId,
    versionNo: row.version_no,
    storageKey: row.storage_key,
    storageVersionId: row.storage_version_id,
    contentType: row.content_type,
    byteSize: row.byte_size,
    sha256: row.sha256,
    createdAt: row.version_created_at
  }, true)
