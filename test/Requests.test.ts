import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import { canonicalPut, decodePut, decodePutMany, PutManyRequest, PutRequest } from "../src/internal/documents/requests.js"
import { decodeInputEither } from "../src/internal/validation.js"

const bySchema = decodeInputEither(PutRequest)
const manyBySchema = decodeInputEither(PutManyRequest)

// Generated requests may hold optional keys set to undefined: valid, but not the form the fast path takes.
const withoutUndefined = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(
    Object.entries(value).filter(([, field]) => field !== undefined).map(([key, field]) => [key, withoutUndefined(field)])
  )
}

// The schema's decoded side (a name is trimmed, but not checked there): kept when decoding accepts it.
const valid = Arbitrary.make(PutRequest).map(withoutUndefined).filter((request) => Either.isRight(bySchema(request))) as fc.Arbitrary<
  Record<string, unknown>
>

// Values that sit at the edges of what the schema accepts, or just past them.
const odd = fc.constantFrom<unknown>(
  undefined, null, "", " ", "a/b", " padded.pdf ", "x".repeat(1025), "x".repeat(256),
  "3F2504E0-4F89-11D3-9A0C-0305E82C3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "not-a-uuid",
  0, -0, 1, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, NaN, Infinity, 0n, 1n, -1n, 2n ** 70n,
  "text/csv", "TEXT/CSV", "text/csv; charset=utf-8", "text", "a".repeat(64), "A".repeat(64), "a".repeat(63),
  "input", "output", "log", "export", "other", true, {}, [], [1], Object.create(null), new Date(0)
)

const paths = [
  ["kind"], ["workspaceId"], ["name"], ["version"], ["sourceDocumentId"], ["runId"], ["exportJobId"], ["extra"],
  ["version", "id"], ["version", "storageKey"], ["version", "storageVersionId"], ["version", "contentType"],
  ["version", "byteSize"], ["version", "sha256"], ["version", "extra"]
] as const

type Mutation = { readonly path: ReadonlyArray<string>; readonly value: unknown; readonly remove: boolean }

const mutation: fc.Arbitrary<Mutation> = fc.record({ path: fc.constantFrom(...paths), value: odd, remove: fc.boolean() })

/** A copy of `request` with its field at `path` set to `value` or removed. */
const mutated = (request: Record<string, unknown>, { path, remove, value }: Mutation): unknown => {
  const copy: Record<string, unknown> = { ...request }
  const [head, tail] = path
  if (tail === undefined) {
    if (remove) delete copy[head!]
    else copy[head!] = value
    return copy
  }
  const inner = copy[head!]
  if (typeof inner !== "object" || inner === null) return copy
  const version: Record<string, unknown> = { ...inner }
  if (remove) delete version[tail]
  else version[tail] = value
  copy[head!] = version
  return copy
}

const anyRequest = fc.oneof(
  valid,
  fc.tuple(valid, mutation).map(([request, m]) => mutated(request, m)),
  fc.tuple(valid, mutation, mutation).map(([request, a, b]) => mutated(mutated(request, a) as Record<string, unknown>, b)),
  // Not plain objects: the schema reads them as it does objects; the fast path leaves them to it.
  valid.map((request) => Object.assign(Object.create({ inherited: true }), request)),
  odd
)

/** The same result: both decoded to equal requests, or both refused naming the same field. */
const expectSame = (fast: Either.Either<unknown, { field: string; message: string }>, schema: typeof fast) => {
  expect(Either.isRight(fast)).toBe(Either.isRight(schema))
  if (Either.isRight(fast) && Either.isRight(schema)) expect(fast.right).toStrictEqual(schema.right)
  if (Either.isLeft(fast) && Either.isLeft(schema)) {
    expect({ field: fast.left.field, message: fast.left.message }).toEqual({ field: schema.left.field, message: schema.left.message })
  }
}

describe("put's requests without the schema (the hot path)", () => {
  it.prop("a request already in decoded form is taken as it is, and equals it decoded", [valid], ([request]) => {
    const canonical = canonicalPut(request)
    expect(canonical).toBeDefined()
    expect(canonical).toStrictEqual(Either.getOrThrow(bySchema(request)))
  }, { fastCheck: { numRuns: 500 } })

  it.prop("decodes any input exactly as the schema does: the same request, or the same error", [anyRequest], ([input]) => {
    const canonical = canonicalPut(input)
    // The fast path only ever takes what the schema accepts unchanged.
    if (canonical !== undefined) expect(canonical).toStrictEqual(Either.getOrThrow(bySchema(input)))
    expectSame(decodePut(input), bySchema(input))
  }, { fastCheck: { numRuns: 3000 } })

  it.prop("decodes a bulk write exactly as the schema does", [fc.array(anyRequest, { maxLength: 5 })], ([inputs]) => {
    expectSame(decodePutMany(inputs), manyBySchema(inputs))
  }, { fastCheck: { numRuns: 1000 } })

  it("takes a name only when it is trimmed, and a sha256 only in lower case (the schema would change them)", () => {
    const request = {
      kind: "input",
      workspaceId: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
      name: "report.pdf",
      version: { storageKey: "k", byteSize: 1, sha256: "a".repeat(64) }
    }
    expect(canonicalPut(request)).toStrictEqual(request)
    expect(canonicalPut({ ...request, name: " report.pdf" })).toBeUndefined()
    expect(canonicalPut({ ...request, version: { ...request.version, sha256: "A".repeat(64) } })).toBeUndefined()
    expect(decodePut({ ...request, name: " report.pdf" })).toStrictEqual(Either.right(request))
  })

  it("refuses a kind without a string form with InvalidInput, as any bad input (the schema's union throws on it)", () => {
    const request = { workspaceId: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", name: "a.pdf", version: { storageKey: "k", byteSize: 1 } }
    for (const kind of [Object.create(null), Symbol("input")]) {
      const decoded = decodePut({ ...request, kind })
      expect(Either.isLeft(decoded) && decoded.left._tag).toBe("InvalidInput")
    }
  })
})
