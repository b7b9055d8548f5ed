/**
 * A document: a row of `files`, as the API speaks of it.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { DocumentId, RunId, WorkspaceId } from "./Ids.js"
import * as NameKey from "./NameKey.js"

/**
 * @since 0.1.0
 */
export const Kind = Schema.Literal(...NameKey.kinds)

/**
 * @since 0.1.0
 */
export type Kind = typeof Kind.Type

/**
 * Decoded from a `files` row (camel-cased by the client); `source_file_id`
 * is called `sourceDocumentId` here.
 *
 * @since 0.1.0
 */
export class Document extends Schema.Class<Document>("Document")({
  id: DocumentId,
  workspaceId: WorkspaceId,
  kind: Kind,
  name: Schema.String,
  nameKey: Schema.String,
  sourceDocumentId: Schema.NullOr(DocumentId).pipe(Schema.propertySignature, Schema.fromKey("sourceFileId")),
  runId: Schema.NullOr(RunId),
  createdAt: Schema.DateFromSelf,
  updatedAt: Schema.DateFromSelf
}) {}
