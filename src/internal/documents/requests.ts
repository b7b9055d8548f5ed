/**
 * What the documents service takes: every input is decoded with these
 * schemas before anything touches the database (re-exported by `Documents`).
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { Kind } from "../../Document.js"
import { DocumentId, ExportJobId, RunId, VersionId, WorkspaceId } from "../../Ids.js"
import type { InvalidInput } from "../../Errors.js"
import * as NameKey from "../../NameKey.js"
import { decodeInputEither } from "../validation.js"

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

const contentTypePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\x20-\x7e]*)?$/
const sha256Pattern = /^[0-9a-f]{64}$/

const ContentTypeValue = Schema.String.pipe(
  Schema.maxLength(255),
  Schema.pattern(contentTypePattern, {
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
    Schema.compose(Schema.String.pipe(Schema.pattern(sha256Pattern, {
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

// put's hot path (docs/scaling.md): a request already in the form decoding gives it (plain objects, ids in
// lower case, a trimmed valid name, the version's fields in range) is taken as it is, without the schema's
// steps per field. Anything else, invalid or not, goes through the schema, which names the offending field.
// test/Requests.test.ts checks that both give the same for generated requests.
const canonicalUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const hasOwn = Object.prototype.hasOwnProperty

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}
const isUuid = (value: unknown): value is string => typeof value === "string" && canonicalUuid.test(value)
const isKey = (value: unknown): value is string =>
  typeof value === "string" && value.length <= 1024 && value.trim().length > 0

/** An optional field that may be null: absent stays absent; present, it must be null or pass `valid`. */
const optionalField = (from: Record<string, unknown>, to: Record<string, unknown>, name: string, valid: (value: unknown) => boolean) => {
  if (!hasOwn.call(from, name)) return true
  const value = from[name]
  if (value !== null && !valid(value)) return false
  to[name] = value
  return true
}

const canonicalVersion = (input: unknown): Record<string, unknown> | undefined => {
  if (!isPlainObject(input)) return undefined
  const { byteSize, storageKey } = input
  const version: Record<string, unknown> = {}
  if (hasOwn.call(input, "id")) {
    if (!isUuid(input.id)) return undefined
    version.id = input.id
  }
  if (!isKey(storageKey)) return undefined
  version.storageKey = storageKey
  if (!optionalField(input, version, "storageVersionId", isKey)) return undefined
  if (
    !optionalField(input, version, "contentType", (value) =>
      typeof value === "string" && value.length <= 255 && contentTypePattern.test(value))
  ) return undefined
  if (typeof byteSize === "number" ? !(Number.isSafeInteger(byteSize) && byteSize >= 0) : !(typeof byteSize === "bigint" && byteSize >= 0n)) {
    return undefined
  }
  version.byteSize = byteSize
  if (!optionalField(input, version, "sha256", (value) => typeof value === "string" && sha256Pattern.test(value))) {
    return undefined
  }
  return version
}

/** `input` as decoding `PutRequest` gives it, when it is already in that form; else undefined. */
export const canonicalPut = (input: unknown): typeof PutRequest.Type | undefined => {
  if (!isPlainObject(input)) return undefined
  const { kind, name, workspaceId } = input
  if (kind !== "input" && kind !== "output" && kind !== "log" && kind !== "export") return undefined
  if (!isUuid(workspaceId)) return undefined
  if (typeof name !== "string" || Either.getOrUndefined(NameKey.validateName(name)) !== name) return undefined
  const version = canonicalVersion(input.version)
  if (version === undefined) return undefined
  const request: Record<string, unknown> = { kind, workspaceId, name, version }
  if (kind === "output") {
    if (!optionalField(input, request, "sourceDocumentId", isUuid)) return undefined
    if (!optionalField(input, request, "runId", isUuid)) return undefined
  } else if (kind === "log") {
    if (!isUuid(input.runId)) return undefined
    request.runId = input.runId
  } else if (kind === "export") {
    if (!isUuid(input.exportJobId)) return undefined
    request.exportJobId = input.exportJobId
  }
  return request as typeof PutRequest.Type
}

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

const decodePutBySchema = decodeInputEither(PutRequest)
const decodePutManyBySchema = decodeInputEither(PutManyRequest)

/** Decodes one write: a canonical request as it is, anything else by the schema. */
export const decodePut = (input: unknown): Either.Either<typeof PutRequest.Type, InvalidInput> => {
  const canonical = canonicalPut(input)
  return canonical === undefined ? decodePutBySchema(input) : Either.right(canonical)
}

/** Decodes a bulk write: canonical requests as they are, else all of them by the schema. */
export const decodePutMany = (input: unknown): Either.Either<ReadonlyArray<typeof PutRequest.Type>, InvalidInput> => {
  if (!Array.isArray(input) || input.length < 1 || input.length > maxBulkWrites) return decodePutManyBySchema(input)
  const requests: Array<typeof PutRequest.Type> = new Array(input.length)
  for (let i = 0; i < input.length; i++) {
    const canonical = canonicalPut(input[i])
    if (canonical === undefined) return decodePutManyBySchema(input)
    requests[i] = canonical
  }
  return Either.right(requests)
}

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
