import * as Either from "effect/Either"

/** A position in a listing: the last row's (created_at as PostgreSQL prints it, id). */
export interface Position {
  readonly createdAt: string
  readonly id: string
}

/** The listing a token belongs to: a token only continues the listing that issued it. */
export interface Listing {
  readonly order: "newest" | "oldest"
  readonly kind: string | null
}

const timestamp = /^\d{4,}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export const encode = (listing: Listing, position: Position): string =>
  Buffer.from(JSON.stringify([1, listing.order, listing.kind, position.createdAt, position.id])).toString("base64url")

export const decode = (token: string, listing: Listing): Either.Either<Position, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"))
  } catch {
    return Either.left("is not a page token issued by this service")
  }
  if (
    !Array.isArray(parsed) || parsed.length !== 5 || parsed[0] !== 1 ||
    typeof parsed[3] !== "string" || typeof parsed[4] !== "string" ||
    !timestamp.test(parsed[3]) || !uuid.test(parsed[4])
  ) {
    return Either.left("is not a page token issued by this service")
  }
  if (parsed[1] !== listing.order || parsed[2] !== listing.kind) {
    return Either.left("belongs to a listing with another order or kind")
  }
  return Either.right({ createdAt: parsed[3], id: parsed[4] })
}
