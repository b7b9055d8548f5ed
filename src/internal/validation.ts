import * as Either from "effect/Either"
import type * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InvalidInput } from "../Errors.js"

/**
 * Decodes a public input, naming the first offending field in the typed error.
 * The input schemas are synchronous: decoding to an `Either` (itself an effect)
 * spares each call the effectful decoder's extra steps.
 */
export const decodeInput = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = decodeInputEither(schema)
  return (input: unknown): Effect.Effect<A, InvalidInput> => decode(input)
}

/** As `decodeInput`, for loops that decode many inputs without an effect each. */
export const decodeInputEither = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
  return (input: unknown): Either.Either<A, InvalidInput> => {
    let decoded: Either.Either<A, ParseResult.ParseError>
    try {
      decoded = decode(input)
    } catch (error) {
      // A union's discriminator is read with String(): a value that has no string form (an object without
      // a prototype, a symbol) throws there instead of failing.
      return Either.left(new InvalidInput({ field: "input", message: `cannot be read: ${(error as Error).message}` }))
    }
    return Either.mapLeft(decoded, (error) => {
      const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
      return new InvalidInput({
        field: issue && issue.path.length > 0 ? issue.path.join(".") : "input",
        message: issue?.message ?? error.message
      })
    })
  }
}
