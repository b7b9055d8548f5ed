import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as NameKey from "../src/NameKey.js"

// Names drawn from the whole of Unicode, with extra weight on the cases that matter:
// letters with case, combining marks, precomposed letters and odd whitespace.
const interesting = fc.constantFrom(
  "A", "a", "É", "é", "e\u0301", "E\u0301", "ß", "ẞ", "İ", "ı", "Σ", "ς", "σ", "Å", "\u212B", "ǅ",
  " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\u200b", ".", "/", "\\", "\u0007", "\ufeff"
)
const name = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.array(fc.oneof(interesting, fc.string({ maxLength: 4 })), { maxLength: 12 }).map((parts) => parts.join(""))
)
const whitespace = fc.array(fc.constantFrom(" ", "\t", "\n", "\r", "\u00a0", "\u2003", "\u3000", "\u2028"), {
  minLength: 1,
  maxLength: 4
}).map((parts) => parts.join(""))

describe("normalizeName", () => {
  it.prop("is idempotent", [name], ([s]) => {
    const once = NameKey.normalizeName(s)
    expect(NameKey.normalizeName(once)).toBe(once)
  })

  it.prop("is total: any string gives a string, lone surrogates included", [fc.string({ unit: "binary" })], ([s]) => {
    expect(typeof NameKey.normalizeName(s)).toBe("string")
  })

  it.prop("ignores letter case", [name], ([s]) => {
    // Case mappings that are not round trips (ß → SS) are a different name, not a different case.
    fc.pre(s.toUpperCase().toLowerCase() === s.toLowerCase())
    expect(NameKey.normalizeName(s.toUpperCase())).toBe(NameKey.normalizeName(s))
    expect(NameKey.normalizeName(s.toLowerCase())).toBe(NameKey.normalizeName(s))
  })

  it.prop("ignores Unicode composition", [name], ([s]) => {
    expect(NameKey.normalizeName(s.normalize("NFD"))).toBe(NameKey.normalizeName(s))
    expect(NameKey.normalizeName(s.normalize("NFC"))).toBe(NameKey.normalizeName(s))
  })

  it.prop(
    "ignores surrounding and repeated whitespace",
    [fc.array(name.map((s) => s.replace(/\s/gu, "")).filter((s) => s.length > 0), { minLength: 1, maxLength: 5 }),
      whitespace, whitespace, whitespace],
    ([words, before, between, after]) => {
      expect(NameKey.normalizeName(before + words.join(between) + after)).toBe(NameKey.normalizeName(words.join(" ")))
    }
  )

  it.prop("has no surrounding whitespace and no whitespace but single ASCII spaces", [name], ([s]) => {
    const key = NameKey.normalizeName(s)
    expect(key).toBe(key.trim())
    expect(key).not.toMatch(/\s\s|[^\S ]/u)
  })

  it.prop(
    "is the documented steps (NFC, lower-case, NFC, whitespace runs to one space, trim), printable ASCII included",
    [fc.oneof(name, fc.string({ unit: fc.constantFrom(..." aZ.-_", "\t", "\u00a0", "\u0130", "\u212a"), maxLength: 20 }),
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 30 }))],
    ([s]) => {
      expect(NameKey.normalizeName(s)).toBe(
        s.normalize("NFC").toLowerCase().normalize("NFC").replace(/\s+/gu, " ").trim()
      )
    }
  )

  it("matches the documented examples", () => {
    expect(NameKey.normalizeName("Report.pdf")).toBe("report.pdf")
    expect(NameKey.normalizeName(" report.PDF ")).toBe("report.pdf")
    expect(NameKey.normalizeName("My \t\u3000 Report.pdf")).toBe("my report.pdf")
    expect(NameKey.normalizeName("CAFE\u0301.txt")).toBe("caf\u00e9.txt")
    expect(NameKey.normalizeName("ÉTÉ ÀB.txt")).toBe("été àb.txt")
    expect(NameKey.normalizeName("ΟΔΟΣ")).toBe("οδος")
  })
})

describe("nameKey", () => {
  const source = "6f1c1a58-5b0c-4c36-9d6e-6c8b3f1f5e01"
  const run = "0b9f2d1e-8a3c-4c0e-9a57-3e2d1c0b9a88"
  const id = "c3d2b1a0-1111-4222-8333-944455556666"

  it("keys an input by its normalised name", () => {
    expect(NameKey.nameKey({ kind: "input", name: " Report.PDF" })).toBe("report.pdf")
  })

  it("keys an output by its source, else its run, else itself", () => {
    expect(NameKey.nameKey({ kind: "output", sourceFileId: source, runId: run, id })).toBe(`output:${source}`)
    expect(NameKey.nameKey({ kind: "output", sourceFileId: null, runId: run, id })).toBe(`output:${run}`)
    expect(NameKey.nameKey({ kind: "output", sourceFileId: null, runId: null, id })).toBe(`output:${id}`)
  })

  it("keys a log by its run and an export by its job", () => {
    expect(NameKey.nameKey({ kind: "log", runId: run })).toBe(`log:${run}`)
    expect(NameKey.nameKey({ kind: "export", exportJobId: id })).toBe(`export:${id}`)
  })

  it("disambiguates a colliding key with the document's id", () => {
    expect(NameKey.disambiguatedKey("report.pdf", id)).toBe(`report.pdf#${id}`)
  })
})

describe("validateName", () => {
  it("accepts a name and returns it trimmed", () => {
    expect(NameKey.validateName("  Q3 report (final).pdf ")).toEqual(Either.right("Q3 report (final).pdf"))
    expect(NameKey.validateName("x".repeat(255))).toEqual(Either.right("x".repeat(255)))
  })

  it("counts the length in code points, not UTF-16 units", () => {
    expect(NameKey.validateName("😀".repeat(255))).toEqual(Either.right("😀".repeat(255)))
    expect(NameKey.validateName("😀".repeat(256))).toEqual(Either.left("too-long"))
  })

  it("refuses empty, too long, control characters and path separators", () => {
    expect(NameKey.validateName(" \t ")).toEqual(Either.left("empty"))
    expect(NameKey.validateName("x".repeat(256))).toEqual(Either.left("too-long"))
    expect(NameKey.validateName("bell\u0007.txt")).toEqual(Either.left("control-character"))
    expect(NameKey.validateName("a\u0085b")).toEqual(Either.left("control-character"))
    expect(NameKey.validateName("a/b.txt")).toEqual(Either.left("path-separator"))
    expect(NameKey.validateName("a\\b.txt")).toEqual(Either.left("path-separator"))
  })

  it.prop("never accepts a name containing a control character", [name, fc.integer({ min: 0, max: 0x1f })], ([s, code]) => {
    expect(Either.isLeft(NameKey.validateName(`a${String.fromCharCode(code)}${s}b`))).toBe(true)
  })
})
