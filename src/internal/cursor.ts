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

export const encode = (cursor: Cursor): string => {
  const body = Buffer.alloc(length - 4)
  body.writeUInt8(version, 0)
  Buffer.from(cursor.epoch.replace(/-/g, ""), "hex").copy(body, 1)
  body.writeBigUInt64BE(cursor.txId, 17)
  body.writeBigUInt64BE(cursor.id, 25)
  return Buffer.concat([body, checksum(body)]).toString("base64url")
}

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
