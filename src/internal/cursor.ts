import { crc32 } from "node:zlib"
import * as Either from "effect/Either"

/**
 * A position in the feed: every change at or before (txId, id) has been
 * delivered. (xmin, 0) means "everything of transactions below xmin".
 */
export interface Position {
  readonly txId: bigint
  readonly id: bigint
}

export interface Cursor extends Position {
  readonly epoch: string
}

const version = 1
const length = 1 + 16 + 8 + 8 + 4

// Detects garbled or edited cursors (a cursor is a position, not a secret): cheap, since every change gets one.
const checksum = (body: Buffer) => {
  const sum = Buffer.alloc(4)
  sum.writeUInt32BE(crc32(body))
  return sum
}

/**
 * The cursors of one epoch: a stream encodes one per change, so the epoch is
 * parsed once and each cursor costs two integer writes, a CRC and a base64url.
 */
export const encoder = (epoch: string): (position: Position) => string => {
  const body = Buffer.alloc(length)
  body.writeUInt8(version, 0)
  Buffer.from(epoch.replace(/-/g, ""), "hex").copy(body, 1)
  return (position) => {
    body.writeBigUInt64BE(position.txId, 17)
    body.writeBigUInt64BE(position.id, 25)
    body.writeUInt32BE(crc32(body.subarray(0, length - 4)), length - 4)
    return body.toString("base64url")
  }
}

export const encode = (cursor: Cursor): string => encoder(cursor.epoch)(cursor)

export const decode = (text: string): Either.Either<Cursor, string> => {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return Either.left("is not a feed cursor (unexpected characters)")
  const bytes = Buffer.from(text, "base64url")
  if (bytes.length !== length || bytes.toString("base64url") !== text) {
    return Either.left("is not a feed cursor (wrong length)")
  }
  const body = bytes.subarray(0, length - 4)
  if (!checksum(body).equals(bytes.subarray(length - 4))) return Either.left("is not a feed cursor (checksum mismatch)")
  if (body.readUInt8(0) !== version) return Either.left("is a cursor of an unknown version")
  const hex = body.subarray(1, 17).toString("hex")
  return Either.right({
    epoch: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    txId: body.readBigUInt64BE(17),
    id: body.readBigUInt64BE(25)
  })
}

export const compare = (a: Position, b: Position): number =>
  a.txId < b.txId ? -1 : a.txId > b.txId ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
