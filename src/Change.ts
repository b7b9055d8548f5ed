/**
 * A change: a row of `document_changes`, written by triggers.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { Kind } from "./Document.js"
import { DocumentId, WorkspaceId } from "./Ids.js"

/**
 * @since 0.1.0
 */
export const Op = Schema.Literal("created", "updated", "deleted", "version_added")

/**
 * @since 0.1.0
 */
export type Op = typeof Op.Type

/**
 * Decoded from a `document_changes` row. `txId` is the writing transaction
 * (xid8, arriving as text) and with `id` gives the feed order.
 *
 * @since 0.1.0
 */
export class Change extends Schema.Class<Change>("Change")({
  id: Schema.BigIntFromSelf,
  txId: Schema.BigInt,
  workspaceId: WorkspaceId,
  documentId: DocumentId,
  kind: Kind,
  op: Op,
  versionNo: Schema.NullOr(Schema.Int),
  changedAt: Schema.DateFromSelf
}) {}
