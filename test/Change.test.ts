import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Change } from "../src/Change.js"
import * as ChangeRow from "../src/internal/changeRow.js"
import * as Cursor from "../src/internal/cursor.js"
import * as Either from "effect/Either"

// A row of the feed's query, as PostgreSQL names the columns.
const row = fc.record({
  id: fc.bigInt({ min: 1n, max: 2n ** 62n }),
  tx_id: fc.bigInt({ min: 3n, max: 2n ** 62n }).map(String),
  workspace_id: fc.uuid(),
  document_id: fc.uuid(),
  kind: fc.constantFrom("input", "output", "log", "export"),
  op: fc.constantFrom("created", "updated", "deleted", "version_added"),
  version_no: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: null }),
  // Milliseconds since 1970, as the query selects it (numeric, as text).
  changed_at: fc.date({ noInvalidDate: true }).map((date) => String(date.getTime()))
})

const camel = (r: typeof row extends fc.Arbitrary<infer A> ? A : never) => ({
  id: r.id, txId: r.tx_id, workspaceId: r.workspace_id, documentId: r.document_id, kind: r.kind, op: r.op,
  versionNo: r.version_no, changedAt: new Date(Number(r.changed_at))
})

describe("Change", () => {
  it.prop("built from a feed row without the schema equals the row decoded with it", [row], ([r]) => {
    const built = ChangeRow.fromRow(r)
    const decoded = Schema.decodeUnknownSync(Change)(camel(r))
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
