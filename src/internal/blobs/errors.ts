/** The blob store's typed errors (re-exported by `BlobStore`). */
import * as Schema from "effect/Schema"

/**
 * No blob under this key (and version id, where the store keeps versions).
 *
 * @since 0.1.0
 */
export class BlobNotFound extends Schema.TaggedError<BlobNotFound>()("BlobNotFound", {
  key: Schema.String,
  versionId: Schema.NullOr(Schema.String),
  message: Schema.String
}) {}

/**
 * The bytes read back do not hash to the sha256 recorded for them: the blob was
 * changed or damaged after it was written. Raised at the end of the stream,
 * after the last byte, since only then is the digest known.
 *
 * @since 0.1.0
 */
export class ChecksumMismatch extends Schema.TaggedError<ChecksumMismatch>()("ChecksumMismatch", {
  key: Schema.String,
  expected: Schema.String,
  actual: Schema.String,
  message: Schema.String
}) {}

/**
 * The store could not be reached or refused the request (network, disk,
 * permissions, a server error); `message` says how. Never a defect.
 *
 * @since 0.1.0
 */
export class BlobStoreUnavailable extends Schema.TaggedError<BlobStoreUnavailable>()("BlobStoreUnavailable", {
  message: Schema.String
}) {}
