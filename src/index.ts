/**
 * @since 0.1.0
 */
export * as BlobStore from "./BlobStore.js"
export * as Change from "./Change.js"
export * as ContentType from "./ContentType.js"
export * as Database from "./Database.js"
export * as Document from "./Document.js"
export * as DocumentBlobs from "./DocumentBlobs.js"
export * as DocumentChanges from "./DocumentChanges.js"
export * as Documents from "./Documents.js"
export * as EmbeddedPostgres from "./EmbeddedPostgres.js"
export * as Errors from "./Errors.js"
export * as Ids from "./Ids.js"
export * as Migrations from "./Migrations.js"
export * as NameKey from "./NameKey.js"
export * as TenantIsolation from "./TenantIsolation.js"
export * as Version from "./Version.js"
