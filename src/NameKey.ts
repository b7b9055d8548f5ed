/**
 * The internal key that makes a document unique within its workspace and kind.
 *
 * This module is the single source of truth for `files.name_key`: the migration
 * backfill and the document services both derive keys here, never in SQL, so
 * the result does not depend on the database's collation or locale.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"

/**
 * The kinds of document. `input` is uploaded by a user; the others are
 * generated (by a run, or by an export job).
 *
 * @since 0.1.0
 */
export const kinds = ["input", "output", "log", "export"] as const

/**
 * @since 0.1.0
 */
export type Kind = (typeof kinds)[number]

// Unicode White_Space, which is what `\s` matches in a `u` regexp.
const whitespaceRun = /\s+/gu

/**
 * Normalises a display name into the key of an input document.
 *
 * Total: it accepts any string, including legacy names that new uploads would
 * reject. Steps: NFC, locale-independent Unicode lower-casing, NFC again (lower
 * casing can decompose), trim, and collapse every run of Unicode whitespace
 * into one ASCII space.
 *
 * @since 0.1.0
 */
export const normalizeName = (name: string): string =>
  printableAscii.test(name) ? normalizePrintableAscii(name) : normalizeAnyName(name)

// Printable ASCII is already NFC, lower-cases to ASCII, and its only whitespace is the space: the steps
// below give the same key for less (every put derives one; test/NameKey.test.ts checks they agree).
const printableAscii = /^[\x20-\x7e]*$/
const spaceRun = / {2,}/g

const normalizePrintableAscii = (name: string): string => {
  const lower = name.toLowerCase()
  return (lower.includes("  ") ? lower.replace(spaceRun, " ") : lower).trim()
}

const normalizeAnyName = (name: string): string =>
  name
    .normalize("NFC")
    .toLowerCase()
    .normalize("NFC")
    .replace(whitespaceRun, " ")
    .trim()

/**
 * What a key is derived from, by kind.
 *
 * @since 0.1.0
 */
export type KeySource =
  | { readonly kind: "input"; readonly name: string }
  | {
    readonly kind: "output"
    readonly sourceFileId: string | null
    readonly runId: string | null
    /** The document's own id: the key of an output with neither source nor run. */
    readonly id: string
  }
  | { readonly kind: "log"; readonly runId: string }
  | { readonly kind: "export"; readonly exportJobId: string }

/**
 * The `name_key` of a document, by the rules of its kind.
 *
 * @since 0.1.0
 */
export const nameKey = (source: KeySource): string => {
  switch (source.kind) {
    case "input":
      return normalizeName(source.name)
    case "output":
      return `output:${source.sourceFileId ?? source.runId ?? source.id}`
    case "log":
      return `log:${source.runId}`
    case "export":
      return `export:${source.exportJobId}`
  }
}

/**
 * The key given to every row but the newest when several legacy rows of one
 * workspace and kind map to the same key: nothing is merged and nothing lost.
 *
 * @since 0.1.0
 */
export const disambiguatedKey = (key: string, id: string): string => `${key}#${id}`

/**
 * Why a new name was refused.
 *
 * @since 0.1.0
 */
export type NameViolation = "empty" | "too-long" | "control-character" | "path-separator"

/**
 * @since 0.1.0
 */
export const maxNameLength = 255

// C0, DEL and C1 controls.
const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/u

/**
 * Validates the display name of a new upload. Legacy names are kept as they
 * are; only new names must pass. Returns the trimmed name.
 *
 * @since 0.1.0
 */
export const validateName = (name: string): Either.Either<string, NameViolation> => {
  const trimmed = name.trim()
  if (trimmed.length === 0) return Either.left("empty")
  // Counted in code points; a name no longer than that in UTF-16 units is not spread into an array.
  if (trimmed.length > maxNameLength && [...trimmed].length > maxNameLength) return Either.left("too-long")
  if (controlCharacter.test(trimmed)) return Either.left("control-character")
  if (trimmed.includes("/") || trimmed.includes("\\")) return Either.left("path-separator")
  return Either.right(trimmed)
}

/**
 * A human sentence for each violation, used by typed errors.
 *
 * @since 0.1.0
 */
export const describeViolation = (violation: NameViolation): string => {
  switch (violation) {
    case "empty":
      return "must not be empty or only whitespace"
    case "too-long":
      return `must be at most ${maxNameLength} characters after trimming`
    case "control-character":
      return "must not contain control characters"
    case "path-separator":
      return "must not contain '/' or '\\'"
  }
}
