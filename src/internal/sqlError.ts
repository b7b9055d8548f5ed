/**
 * What the services read from a failed statement, and how a database failure
 * reaches their callers.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { DatabaseError } from "../Errors.js"

/** PostgreSQL's SQLSTATE and constraint name, when the server gave them. */
export const pgCode = (error: SqlError): { readonly code?: string; readonly constraint?: string } =>
  (error.cause ?? {}) as { code?: string; constraint?: string }

/** A database failure as callers see it: a typed error, with the driver's message appended. */
export const databaseError = (error: SqlError) =>
  new DatabaseError({
    message: [error.message, (error.cause as { message?: string } | undefined)?.message].filter(Boolean).join(": ")
  })
