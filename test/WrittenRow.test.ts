import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Document } from "../src/Document.js"
import * as WrittenRow from "../src/internal/documents/writtenRow.js"
import { Version } from "../src/Version.js"

const date = fc.date({ noInvalidDate: true })
const text = fc.string({ maxLength: 40 })

// A row of put's write statement, as PostgreSQL names the columns.
const row = fc.record({
  id: fc.uuid(),
  workspace_id: fc.uuid(),
  kind: fc.constantFrom("input", "output", "log", "export"),
  name: text,
  name_key: text,
  source_file_id: fc.option(fc.uuid(), { nil: null }),
  run_id: fc.option(fc.uuid(), { nil: null }),
  created_at: date,
  updated_at: date,
  version_id: fc.uuid(),
  version_no: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  storage_key: text,
  storage_version_id: fc.option(text, { nil: null }),
  content_type: fc.option(text, { nil: null }),
  byte_size: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
  sha256: fc.option(fc.hexaString({ minLength: 64, maxLength: 64 }), { nil: null }),
  version_created_at: date
})

describe("WrittenRow", () => {
  it.prop("builds from put's row without the schemas the same Document and Version as decoding the row with them", [row], ([r]) => {
    // As put decoded the row before: the client's camelCase keys, the version's under their own names.
    const camel = {
      id: r.id, workspaceId: r.workspace_id, kind: r.kind, name: r.name, nameKey: r.name_key, sourceFileId: r.source_file_id,
      runId: r.run_id, createdAt: r.created_at, updatedAt: r.updated_at, versionId: r.version_id, versionNo: r.version_no,
      storageKey: r.storage_key, storageVersionId: r.storage_version_id, contentType: r.content_type, byteSize: r.byte_size,
      sha256: r.sha256, versionCreatedAt: r.version_created_at
    }
    const document = Schema.decodeUnknownSync(Document)(camel)
    const version = Schema.decodeUnknownSync(Version)({ ...camel, id: r.version_id, fileId: r.id, createdAt: r.version_created_at })
    for (const [built, decoded] of [[WrittenRow.document(r), document], [WrittenRow.version(r), version]] as const) {
      expect(built).toBeInstanceOf(decoded.constructor)
      expect(built).toStrictEqual(decoded)
      expect(Object.keys(built)).toEqual(Object.keys(decoded))
    }
  })
})
