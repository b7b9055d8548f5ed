/** Progress on stderr for big transfers, when stderr is a terminal. */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

const threshold = 64 * 1024 * 1024

/** Passes the bytes through, showing how many of `total` went past (nothing when small or not a terminal). */
export const withProgress = <E>(
  label: string,
  total: number,
  bytes: Stream.Stream<Uint8Array, E>
): Stream.Stream<Uint8Array, E> => {
  if (!process.stderr.isTTY || total < threshold) return bytes
  return Stream.suspend(() => {
    let done = 0
    let shown = 0
    return bytes.pipe(
      Stream.tap((chunk) =>
        Effect.sync(() => {
          done += chunk.length
          if (done - shown > total / 50 || done === total) {
            shown = done
            process.stderr.write(`\r${label}: ${Math.floor((done / total) * 100)}%`)
          }
        })
      ),
      Stream.ensuring(Effect.sync(() => process.stderr.write("\r\x1b[K")))
    )
  })
}
