/**
 * What each error callers can meet means at the edges: the CLI's exit code
 * and an HTTP status. One table, used by the `docstore` command and by HTTP
 * servers built on the library.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import type { BlobNotFound, BlobStoreUnavailable, ChecksumMismatch } from "./BlobStore.js"
import type { TokenNotFound } from "./ApiTokens.js"
import type { DatabaseUrlMissing } from "./Database.js"
import type { GcRefused } from "./DocumentBlobs.js"
import type { EmbeddedPostgresError } from "./EmbeddedPostgres.js"
import type {
  Conflict,
  CursorExpired,
  DatabaseError,
  DocumentNotFound,
  FeedDiverged,
  InvalidCursor,
  InvalidInput,
  LeaseLost,
  VersionNotFound
} from "./Errors.js"
import type { MigrationFailed } from "./Migrations.js"
import type { TenantIsolationUnavailable } from "./TenantIsolation.js"

/**
 * Every typed error of the library.
 *
 * @since 0.1.0
 */
export type KnownError =
  | InvalidInput
  | DocumentNotFound
  | VersionNotFound
  | Conflict
  | DatabaseError
  | InvalidCursor
  | CursorExpired
  | LeaseLost
  | FeedDiverged
  | MigrationFailed
  | DatabaseUrlMissing
  | EmbeddedPostgresError
  | TenantIsolationUnavailable
  | BlobNotFound
  | ChecksumMismatch
  | BlobStoreUnavailable
  | GcRefused
  | TokenNotFound

/**
 * 0 done, 1 the operation failed, 2 bad usage or input, 3 not found.
 *
 * @since 0.1.0
 */
export type ExitCode = 0 | 1 | 2 | 3

/**
 * @since 0.1.0
 */
export interface Status {
  readonly exitCode: ExitCode
  readonly httpStatus: number
}

const table: { readonly [Tag in KnownError["_tag"]]: Status } = {
  InvalidInput: { exitCode: 2, httpStatus: 400 },
  InvalidCursor: { exitCode: 2, httpStatus: 400 },
  DocumentNotFound: { exitCode: 3, httpStatus: 404 },
  VersionNotFound: { exitCode: 3, httpStatus: 404 },
  Conflict: { exitCode: 1, httpStatus: 409 },
  // The Electric/Kubernetes contract: the client must refetch.
  CursorExpired: { exitCode: 1, httpStatus: 409 },
  LeaseLost: { exitCode: 1, httpStatus: 409 },
  DatabaseError: { exitCode: 1, httpStatus: 503 },
  // Writes and streams are refused until `docstore repair-feed` ran.
  FeedDiverged: { exitCode: 1, httpStatus: 503 },
  MigrationFailed: { exitCode: 1, httpStatus: 500 },
  DatabaseUrlMissing: { exitCode: 1, httpStatus: 500 },
  EmbeddedPostgresError: { exitCode: 1, httpStatus: 500 },
  TenantIsolationUnavailable: { exitCode: 1, httpStatus: 500 },
  // A recorded version whose bytes the store does not have: the store failed, the request was right.
  BlobNotFound: { exitCode: 1, httpStatus: 404 },
  // The stored bytes are not the ones recorded: a fault of the store, not of the request.
  ChecksumMismatch: { exitCode: 1, httpStatus: 502 },
  BlobStoreUnavailable: { exitCode: 1, httpStatus: 503 },
  GcRefused: { exitCode: 1, httpStatus: 409 },
  TokenNotFound: { exitCode: 3, httpStatus: 404 }
}

/** Anything else: a failure of ours or of the platform. */
const unexpected: Status = { exitCode: 1, httpStatus: 500 }

/**
 * @since 0.1.0
 */
export const isKnown = (error: unknown): error is KnownError =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" && Object.hasOwn(table, error._tag)

/**
 * The status of a typed error of the library; any other failure gets exit code 1 and HTTP 500.
 *
 * @since 0.1.0
 */
export const of = (error: unknown): Status => isKnown(error) ? table[error._tag] : unexpected
