/**
 * The name-key rules migration 0002 applied to legacy rows, frozen as they
 * were when it was written, so that a later change to `src/NameKey.ts` does
 * not change what this step of the history does. test/Migrations.test.ts
 * checks that they still agree with today's rules on a fixed corpus.
 */

// Unicode White_Space, which is what `\s` matches in a `u` regexp.
const whitespaceRun = /\s+/gu

/** NFC, locale-independent lower-casing, NFC again, whitespace runs collapsed to one space, trimmed. */
export const normalizeName = (name: string): string =>
  name.normalize("NFC").toLowerCase().normalize("NFC").replace(whitespaceRun, " ").trim()

/** A legacy `document` is keyed by its name; a legacy `output` by its source, else its run, else itself. */
export const legacyKey = (row: {
  readonly kind: string
  readonly name: string
  readonly sourceFileId: string | null
  readonly runId: string | null
  readonly id: string
}): string =>
  row.kind === "document" ? normalizeName(row.name) : `output:${row.sourceFileId ?? row.runId ?? row.id}`
