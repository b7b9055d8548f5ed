import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Change } from "../src/Change.js"
import * as ChangeRow from "../src/internal/feed/changeRow.js"
import * as Cursor from "../src/internal/cursor.js"
import * as Either from "effect/Either"

// A row of the feed's query, as the client returns it in array mode.
const row: fc.Arbitrary<ChangeRow.Row> = fc.tuple(
  fc.bigInt({ min: 1n, max: 2n ** 62n }),
  fc.bigInt({ min: 3n, max: 2n ** 62n }).map(String),
  fc.uuid(),
  fc.uuid(),
  fc.constantFrom("input", "output", "log", "export"),
  fc.constantFrom("created", "updated", "deleted", "version_added"),
  fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: null }),
  // Milliseconds since 1970, as the query selects it (numeric, as text).
  fc.date({ noInvalidDate: true }).map((date) => String(date.getTime()))
)

const fields = ([id, txId, workspaceId, documentId, kind, op, versionNo, changedAt]: ChangeRow.Row) => ({
  id, txId, workspaceId, documentId, kind, op, versionNo, changedAt: new Date(Number(changedAt))
})

describe("Change", () => {
  it.prop("built from a feed row without the schema equals the row decoded with it", [row], ([r]) => {
    const built = ChangeRow.fromRow(r)
    const decoded = Schema.decodeUnknownSync(Change)(fields(r))
    expect(built).toBeInstanceOf(Change)
    expect(built).toStrictEqual(decoded)
    expect(Object.keys(built)).toEqual(Object.keys(decoded))
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
