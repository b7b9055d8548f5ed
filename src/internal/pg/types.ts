/**
 * How `pg` parses what the server sends: its defaults, except that int8 values
 * (bigserial ids, `count(*)`) become `bigint` instead of strings.
 */
import pg from "pg"

const int8 = 20
const int8Array = 1016

const parseInt8Array = (value: string): Array<bigint> =>
  (pg.types.getTypeParser(int8Array as Parameters<typeof pg.types.getTypeParser>[0]) as (value: string) => Array<string>)(
    value
  ).map(BigInt)

export const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === int8) return BigInt
    if (oid === int8Array) return parseInt8Array
    return pg.types.getTypeParser(oid, format)
  }) as pg.CustomTypesConfig["getTypeParser"]
}
