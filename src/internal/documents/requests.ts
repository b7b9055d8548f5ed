/**
 * What the documents service takes: every input is decoded with these
 * schemas before anything touches the database (re-exported by `Documents`).
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { Kind } from "../../Document.js"
import { DocumentId, ExportJobId, RunId, VersionId, WorkspaceId } from "../../Ids.js"
import * as NameKey from "../../NameKey.js"

/**
 * A display name for a new document: trimmed, 1 to 255 characters, no control
 * characters, no `/` or `\`.
 *
 * @since 0.1.0
 */
export const Name = Schema.String.pipe(
  Schema.filter((name) =>
    Either.match(NameKey.validateName(name), { onLeft: NameKey.describeViolation, onRight: () => true })
  ),
  Schema.compose(Schema.Trim)
)

const ContentTypeValue = Schema.String.pipe(
  Schema.maxLength(255),
  Schema.pattern(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\x20-\x7e]*)?$/, {
    message: () => "must be a media type such as text/csv"
  })
)

// An optional field that may also be null; the service reads absent as null. (A default in the schema,
// `optionalWith`, would make the struct a transformation whose fields are all checked twice.)
const absentAsNull = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/**
 * Where one version's bytes live.
 *
 * @since 0.1.0
 */
export const VersionInput = Schema.Struct({
  /** Client-generated: repeating a write with the same id returns the version already written. */
  id: Schema.optional(VersionId),
  storageKey: Schema.String.pipe(
    Schema.filter((key) => key.trim().length > 0 || "must not be empty"),
    Schema.maxLength(1024)
  ),
  storageVersionId: absentAsNull(Schema.String.pipe(
    Schema.filter((id) => id.trim().length > 0 || "must be null or a non-blank version id"),
    Schema.maxLength(1024)
  )),
  contentType: absentAsNull(ContentTypeValue),
  byteSize: Schema.Union(Schema.NonNegativeInt, Schema.NonNegativeBigIntFromSelf),
  sha256: absentAsNull(Schema.Lowercase.pipe(
    Schema.compose(Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/, {
      message: () => "must be 64 hexadecimal characters"
    })))
  ))
})

/**
 * @since 0.1.0
 */
export type VersionInput = typeof VersionInput.Encoded

const common = { workspaceId: WorkspaceId, name: Name, version: VersionInput }

/**
 * What to write, by kind. The kind decides the document's key: an input by
 * its name, an output by its source document (else its run, else itself), a
 * log by its run, an export by its export job. Writing to a key that exists
 * adds the next version to that document.
 *
 * @since 0.1.0
 */
export const PutRequest = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("input"), ...common }),
  Schema.Struct({
    kind: Schema.Literal("output"),
    ...common,
    sourceDocumentId: absentAsNull(DocumentId),
    runId: absentAsNull(RunId)
  }),
  Schema.Struct({ kind: Schema.Literal("log"), ...common, runId: RunId }),
  Schema.Struct({ kind: Schema.Literal("export"), ...common, exportJobId: ExportJobId })
)

/**
 * @since 0.1.0
 */
export type PutRequest = typeof PutRequest.Encoded

/**
 * The most writes one `putMany` takes; split larger imports into several calls.
 *
 * @since 0.1.0
 */
export const maxBulkWrites = 100_000

/**
 * Many writes at once, for imports: one `PutRequest` per version.
 *
 * @since 0.1.0
 */
export const PutManyRequest = Schema.Array(PutRequest).pipe(Schema.minItems(1), Schema.maxItems(maxBulkWrites))

/**
 * Finding a document by what its key is made of (see `PutRequest`).
 *
 * @since 0.1.0
 */
export const FindRequest = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("input"), workspaceId: WorkspaceId, name: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("output"), workspaceId: WorkspaceId, sourceDocumentId: DocumentId }),
  Schema.Struct({ kind: Schema.Literal("output"), workspaceId: WorkspaceId, runId: RunId }),
  Schema.Struct({ kind: Schema.Literal("log"), workspaceId: WorkspaceId, runId: RunId }),
  Schema.Struct({ kind: Schema.Literal("export"), workspaceId: WorkspaceId, exportJobId: ExportJobId })
)

/**
 * @since 0.1.0
 */
export type FindRequest = typeof FindRequest.Encoded

export const DocumentRef = Schema.Struct({ workspaceId: WorkspaceId, documentId: DocumentId })

/**
 * @since 0.1.0
 */
export type DocumentRef = typeof DocumentRef.Encoded

export const VersionRef = Schema.Struct({
  workspaceId: WorkspaceId,
  documentId: DocumentId,
  versionNo: Schema.Int.pipe(Schema.positive())
})

/**
 * @since 0.1.0
 */
export type VersionRef = typeof VersionRef.Encoded

/**
 * A page of a workspace's documents, newest (default) or oldest first.
 *
 * @since 0.1.0
 */
export const ListRequest = Schema.Struct({
  workspaceId: WorkspaceId,
  kind: Schema.optional(Kind),
  order: Schema.optionalWith(Schema.Literal("newest", "oldest"), { default: () => "newest" as const }),
  limit: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1000)), { default: () => 100 }),
  pageToken: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 */
export type ListRequest = typeof ListRequest.Encoded
