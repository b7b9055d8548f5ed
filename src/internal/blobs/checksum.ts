/** Hashing while bytes stream past: nothing is buffered beyond the chunk in hand. */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { ChecksumMismatch } from "./errors.js"

/** A running sha256 and byte count. */
export interface Digest {
  readonly update: (chunk: Uint8Array) => void
  readonly size: () => number
  readonly hex: () => string
}

export const digest = (): Digest => {
  const hash = createHash("sha256")
  let size = 0
  let hex: string | undefined
  return {
    update: (chunk) => {
      hash.update(chunk)
      size += chunk.length
    },
    size: () => size,
    // A node Hash digests once; keep the first answer.
    hex: () => (hex ??= hash.digest("hex"))
  }
}

export const isSha256 = (text: string): boolean => /^[0-9a-f]{64}$/.test(text)

/**
 * Passes the bytes through and, after the last one, fails with
 * `ChecksumMismatch` unless they hash to `expected` (and, when given, add up to
 * `expectedSize`). The consumer has seen every byte by then: a caller writing
 * to a file keeps it only when the stream ends without error.
 */
export const verified = <E>(
  bytes: Stream.Stream<Uint8Array, E>,
  key: string,
  expected: string,
  expectedSize?: number
): Stream.Stream<Uint8Array, E | ChecksumMismatch> =>
  Stream.suspend(() => {
    const running = digest()
    const check = Effect.suspend(() => {
      const actual = running.hex()
      if (actual === expected && (expectedSize === undefined || running.size() === expectedSize)) return Effect.void
      return Effect.fail(
        new ChecksumMismatch({
          key,
          expected,
          actual,
          message: actual === expected
            ? `blob ${key} has ${running.size()} bytes where ${expectedSize} were recorded`
            : `blob ${key} hashes to ${actual}, not the recorded ${expected}: it was changed after it was written`
        })
      )
    })
    return bytes.pipe(
      Stream.tap((chunk) => Effect.sync(() => running.update(chunk))),
      Stream.concat(Stream.drain(Stream.fromEffect(check)))
    )
  })
