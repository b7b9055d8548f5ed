/**
 * Branded ids. Every id is a UUID, accepted in any case and kept lower-case
 * (the way PostgreSQL prints them), so ids compare as strings.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const uuid = Schema.Lowercase.pipe(Schema.compose(Schema.UUID))

/**
 * The tenant: every operation is scoped by it.
 *
 * @since 0.1.0
 */
export const WorkspaceId = uuid.pipe(Schema.brand("WorkspaceId"))
/**
 * @since 0.1.0
 */
export type WorkspaceId = typeof WorkspaceId.Type

/**
 * A document (a row of `files`).
 *
 * @since 0.1.0
 */
export const DocumentId = uuid.pipe(Schema.brand("DocumentId"))
/**
 * @since 0.1.0
 */
export type DocumentId = typeof DocumentId.Type

/**
 * A version (a row of `file_versions`); a client may choose it to make a write idempotent.
 *
 * @since 0.1.0
 */
export const VersionId = uuid.pipe(Schema.brand("VersionId"))
/**
 * @since 0.1.0
 */
export type VersionId = typeof VersionId.Type

/**
 * The run that produced an output or a log.
 *
 * @since 0.1.0
 */
export const RunId = uuid.pipe(Schema.brand("RunId"))
/**
 * @since 0.1.0
 */
export type RunId = typeof RunId.Type

/**
 * The export job that produced an export.
 *
 * @since 0.1.0
 */
export const ExportJobId = uuid.pipe(Schema.brand("ExportJobId"))
/**
 * @since 0.1.0
 */
export type ExportJobId = typeof ExportJobId.Type
