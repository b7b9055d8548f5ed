/**
 * The migration history, in order. Imported statically so the same loader
 * works under tsx, vitest and compiled output. Keys are `<id>_<name>`; a new
 * migration takes the next id (the Migrator skips ids below the highest applied).
 */
import type { SqlClient } from "@effect/sql"
import type * as Effect from "effect/Effect"
import legacyBaseline from "./0001_legacy_baseline.js"
import simplifyFiles from "./0002_simplify_files.js"
import documentChanges from "./0003_document_changes.js"
import documentIndexes from "./0004_document_indexes.js"
import documentConsumers from "./0005_document_consumers.js"
import tenantIsolation from "./0006_tenant_isolation.js"
import writePathTuning from "./0007_write_path_tuning.js"
import checksumCheck from "./0008_checksum_check.js"
import changeTriggerMemory from "./0009_change_trigger_memory.js"
import changeTriggerLookup from "./0010_change_trigger_lookup.js"
import feedIdentity from "./0011_feed_identity.js"
import apiTokens from "./0012_api_tokens.js"
import blobReferences from "./0013_blob_references.js"

export const migrations: Readonly<Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>>> = {
  "0001_legacy_baseline": legacyBaseline,
  "0002_simplify_files": simplifyFiles,
  "0003_document_changes": documentChanges,
  "0004_document_indexes": documentIndexes,
  "0005_document_consumers": documentConsumers,
  "0006_tenant_isolation": tenantIsolation,
  "0007_write_path_tuning": writePathTuning,
  "0008_checksum_check": checksumCheck,
  "0009_change_trigger_memory": changeTriggerMemory,
  "0010_change_trigger_lookup": changeTriggerLookup,
  "0011_feed_identity": feedIdentity,
  "0012_api_tokens": apiTokens,
  "0013_blob_references": blobReferences
}
