import { describe, expect, it } from "@effect/vitest"
import * as ErrorStatus from "../src/ErrorStatus.js"
import { Conflict, CursorExpired, DatabaseError, DocumentNotFound, InvalidCursor, InvalidInput, LeaseLost, VersionNotFound } from "../src/Errors.js"
import { MigrationFailed } from "../src/Migrations.js"

describe("ErrorStatus", () => {
  it("gives bad input 2/400, a missing document or version 3/404, a conflict or an expired cursor 1/409", () => {
    const cases = [
      [new InvalidInput({ field: "name", message: "must not be empty" }), 2, 400],
      [new InvalidCursor({ message: "the cursor is malformed" }), 2, 400],
      [new DocumentNotFound({ documentId: "d", message: "no document d" }), 3, 404],
      [new VersionNotFound({ documentId: "d", versionNo: 2, message: "no version 2" }), 3, 404],
      [new Conflict({ message: "taken" }), 1, 409],
      [new CursorExpired({ reason: "retention", message: "pruned" }), 1, 409],
      [new LeaseLost({ consumer: "c", message: "taken over" }), 1, 409],
      [new DatabaseError({ message: "connection refused" }), 1, 503],
      [new MigrationFailed({ migration: "0002_simplify_files", message: "boom" }), 1, 500]
    ] as const
    for (const [error, exitCode, httpStatus] of cases) {
      expect(ErrorStatus.isKnown(error)).toBe(true)
      expect(ErrorStatus.of(error)).toEqual({ exitCode, httpStatus })
    }
  })

  it("gives anything else 1/500, whatever its tag", () => {
    for (const other of [new Error("x"), { _tag: "SqlError", message: "x" }, { _tag: "toString" }, "text", null]) {
      expect(ErrorStatus.isKnown(other)).toBe(false)
      expect(ErrorStatus.of(other)).toEqual({ exitCode: 1, httpStatus: 500 })
    }
  })
})
