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

// What `new Document(props, true)` and `new Version(props, true)` build (own properties in field order,
// the class's prototype), without the class constructor's copying and default-merging, the largest part
// of building the result (bench/putCost.ts, docs/scaling.md).
type DocumentFields = { -readonly [K in keyof Document]: Document[K] }
function BuiltDocument(this: DocumentFields, row: Row) {
  this.id = row.id as DocumentId
  this.workspaceId = row.workspace_id as WorkspaceId
  this.kind = row.kind as Kind
  this.name = row.name
  this.nameKey = row.name_key
  this.sourceDocumentId = row.source_file_id as DocumentId | null
  this.runId = row.run_id as RunId | null
  this.createdAt = row.created_at
  this.updatedAt = row.updated_at
}
BuiltDocument.prototype = Document.prototype

type VersionFields = { -readonly [K in keyof Version]: Version[K] }
function BuiltVersion(this: VersionFields, row: Row) {
  this.id = row.version_id as VersionId
  this.documentId = row.id as DocumentId
  this.versionNo = row.version_no
  this.storageKey = row.storage_key
  this.storageVersionId = row.storage_version_id
  this.contentType = row.content_type
  this.byteSize = row.byte_size
  this.sha256 = row.sha256
  this.createdAt = row.version_created_at
}
BuiltVersion.prototype = Version.prototype

export const document = (row: Row): Document => new (BuiltDocument as unknown as new(row: Row) => Document)(row)

export const version = (row: Row): Version => new (BuiltVersion as unknown as new(row: Row) => Version)(row)
