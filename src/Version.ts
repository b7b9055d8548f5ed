/**
 * A version: an immutable row of `file_versions`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { DocumentId, VersionId } from "./Ids.js"

/**
 * Decoded from a `file_versions` row; `file_id` is called `documentId` here.
 *
 * @since 0.1.0
 */
export class Version extends Schema.Class<Version>("Version")({
  id: VersionId,
  documentId: DocumentId.pipe(Schema.propertySignature, Schema.fromKey("fileId")),
  versionNo: Schema.Int,
  storageKey: Schema.String,
  storageVersionId: Schema.NullOr(Schema.String),
  contentType: Schema.NullOr(Schema.String),
  byteSize: Schema.BigIntFromSelf,
  sha256: Schema.NullOr(Schema.String),
  createdAt: Schema.DateFromSelf
}) {}
