import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as DirectStatement from "../src/internal/pg/directStatement.js"
import { layerFresh } from "./support/Database.js"

// A template's strings as the language passes them (the direct path keys its text cache on the array).
const template = (parts: ReadonlyArray<string>): TemplateStringsArray => Object.assign([...parts], { raw: [...parts] })

const plainValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true })
)
const sqlText = fc.string({ maxLength: 20 })

describe("DirectStatement", () => {
  it.layer(layerFresh)((it) => {
    it.effect("a template of plain values is sent as the text and parameters @effect/sql compiles for it", () =>
      Effect.gen(function*() {
        const raw = (yield* SqlClient.SqlClient).withoutTransforms()
        fc.assert(
          fc.property(fc.array(fc.tuple(sqlText, plainValue), { maxLength: 8 }), sqlText, (pairs, last) => {
            const strings = template([...pairs.map(([text]) => text), last])
            const args = pairs.map(([, value]) => value)
            const [text, params] = raw(strings, ...args).compile()
            expect(DirectStatement.compiled(strings, args)).toEqual([text, params])
            // Kept per call site: the same strings give the same text again.
            expect(DirectStatement.compiled(strings, args)?.[0]).toBe(text)
          }),
          { numRuns: 500 }
        )
      }))

    it.effect("sends plain values, fragments and statements in a transaction alike, and returns the server's rows", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const direct = yield* DirectStatement.make(sql)
        const plain = yield* direct<{ a: string; b: number; c: null; d_e: string }>`
          SELECT ${"it's $1"}::text AS a, ${41}::int + 1 AS b, ${null}::uuid AS c, 'x' AS d_e`
        expect(plain).toEqual([{ a: "it's $1", b: 42, c: null, d_e: "x" }])
        // A fragment is compiled by @effect/sql, as before.
        const fragment = yield* direct<{ a: string }>`SELECT ${sql`${"frag"}::text`} AS a`
        expect(fragment).toEqual([{ a: "frag" }])
        // Inside a transaction the statement runs on the transaction's connection: it sees its own write.
        yield* sql`CREATE TABLE direct_seen (n int)`
        const seen = yield* sql.withTransaction(
          Effect.zipRight(sql`INSERT INTO direct_seen VALUES (7)`, direct<{ n: number }>`SELECT n FROM direct_seen WHERE n = ${7}`)
        )
        expect(seen).toEqual([{ n: 7 }])
      }))
  })
})
