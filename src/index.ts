/**
 * @since 0.1.0
 */
export * as Change from "./Change.js"
export * as ContentType from "./ContentType.js"
export * as Database from "./Database.js"
export * as Document from "./Document.js"
export * as DocumentChanges from "./DocumentChanges.js"
export * as Documents from "./Documents.js"
export * as EmbeddedPostgres from "./EmbeddedPostgres.js"
export * as Errors from "./Errors.js"
export * as FeedGuard from "./FeedGuard.js"
export * as FeedHealth from "./FeedHealth.js"
export * as FeedMetrics from "./FeedMetrics.js"
export * as Ids from "./Ids.js"
export * as Migrations from "./Migrations.js"
export * as NameKey from "./NameKey.js"
export * as TenantIsolation from "./TenantIsolation.js"
export * as Version from "./Version.js"
