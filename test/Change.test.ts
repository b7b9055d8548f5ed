import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Change } from "../src/Change.js"
import * as ChangeRow from "../src/internal/changeRow.js"
import * as Cursor from "../src/internal/cursor.js"
import * as Either from "effect/Either"

const row = fc.record({
  id: fc.bigInt({ min: 1n, max: 2n ** 62n }),
  txId: fc.bigInt({ min: 3n, max: 2n ** 62n }).map(String),
  workspaceId: fc.uuid(),
  documentId: fc.uuid(),
  kind: fc.constantFrom("input", "output", "log", "export"),
  op: fc.constantFrom("created", "updated", "deleted", "version_added"),
  versionNo: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: null }),
  changedAt: fc.date({ noInvalidDate: true })
})

describe("Change", () => {
  it.prop("built from a feed row without the schema equals the row decoded with it", [row], ([r]) => {
    expect(ChangeRow.fromRow(r)).toEqual(Schema.decodeUnknownSync(Change)(r))
  })

  it.prop("a change's cursor, encoded once per change, decodes to the change's position", [
    fc.uuid(), fc.array(fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n })), { minLength: 1 })
  ], ([epoch, positions]) => {
    const encode = Cursor.encoder(epoch)
    for (const [txId, id] of positions) {
      expect(Either.getOrThrow(Cursor.decode(encode({ txId, id })))).toEqual({ epoch, txId, id })
      expect(encode({ txId, id })).toBe(Cursor.encode({ epoch, txId, id }))
    }
  })
})
