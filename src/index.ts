/**
 * @since 0.1.0
 */
export * as ContentType from "./ContentType.js"
export * as Database from "./Database.js"
export * as EmbeddedPostgres from "./EmbeddedPostgres.js"
export * as Migrations from "./Migrations.js"
export * as NameKey from "./NameKey.js"
