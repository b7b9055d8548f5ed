/**
 * The errors callers handle. Another workspace's document fails exactly as a
 * missing one does.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * An input failed validation; `field` is its path (`version.sha256`), nothing was written.
 *
 * @since 0.1.0
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  field: Schema.String,
  message: Schema.String
}) {}

/**
 * No such document in this workspace.
 *
 * @since 0.1.0
 */
export class DocumentNotFound extends Schema.TaggedError<DocumentNotFound>()("DocumentNotFound", {
  documentId: Schema.String,
  message: Schema.String
}) {}

/**
 * No such version of the document.
 *
 * @since 0.1.0
 */
export class VersionNotFound extends Schema.TaggedError<VersionNotFound>()("VersionNotFound", {
  documentId: Schema.String,
  versionNo: Schema.Number,
  message: Schema.String
}) {}

/**
 * The write contradicts what is stored: a retried version id with different metadata.
 *
 * @since 0.1.0
 */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  message: Schema.String
}) {}

/**
 * The database failed (unreachable, timed out, refused); `message` says how. Never a defect.
 *
 * @since 0.1.0
 */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  message: Schema.String
}) {}

/**
 * A change-feed cursor that this library did not issue (garbage, truncated, tampered).
 *
 * @since 0.1.0
 */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", {
  message: Schema.String
}) {}

/**
 * A cursor the feed can no longer continue from: it belongs to another feed
 * epoch (the feed was recreated or the database restored), or the changes
 * after it were pruned by retention. Refetch: list, take the listing's
 * cursor, stream from there.
 *
 * @since 0.1.0
 */
export class CursorExpired extends Schema.TaggedError<CursorExpired>()("CursorExpired", {
  reason: Schema.Literal("epoch", "retention"),
  message: Schema.String
}) {}

/**
 * A durable consumer's lease was taken over (it was not renewed in time); this
 * process stops without advancing the checkpoint.
 *
 * @since 0.1.0
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  consumer: Schema.String,
  message: Schema.String
}) {}

/**
 * The change feed's stored positions lie at or above this server's next
 * transaction id: the database was copied into another cluster (a logical
 * dump and restore), so new changes would sort below the stored history and
 * readers would silently miss them. Writes through the library and streams
 * fail until the remedy ran: `docstore repair-feed` (or `FeedGuard.repair`)
 * starts a new feed epoch; consumers then refetch. See docs/change-feed.md.
 *
 * @since 0.1.0
 */
export class FeedDiverged extends Schema.TaggedError<FeedDiverged>()("FeedDiverged", {
  /** What lies ahead of the server: `newest change`, `retention horizon`, `watermark` or `consumer <name>`. */
  position: Schema.String,
  /** That position's transaction id, and the server's next one (`pg_snapshot_xmax`), as decimal strings. */
  storedTxId: Schema.String,
  serverNextTxId: Schema.String,
  message: Schema.String
}) {}
