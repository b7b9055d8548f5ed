/**
 * Migration 0002 applies frozen copies of the name-key and content-type rules
 * (migrations/frozen/): history must not change when src/ does. These tests
 * say whether the frozen rules still agree with today's, on a fixed corpus;
 * a difference found here is a decision to document, not to paper over.
 */
import { describe, expect, it } from "@effect/vitest"
import standardTypes from "mime/types/standard.js"
import otherTypes from "mime/types/other.js"
import * as FrozenContentTypes from "../migrations/frozen/contentTypes.js"
import * as FrozenNameKeys from "../migrations/frozen/nameKeys.js"
import * as ContentType from "../src/ContentType.js"
import * as NameKey from "../src/NameKey.js"

const names = [
  "Report.pdf", "report.PDF ", "  Quarterly   Report.xlsx", "résumé.docx", "re\u0301sume\u0301.docx", "STRASSE.txt",
  "straße.txt", "İstanbul.csv", "ΣΊΣΥΦΟΣ.md", "ǅemal.txt", "Å.png", "\u212B.png", "tab\tseparated\u00a0name.tsv",
  "a\u3000b\u2003c.json", "zero\u200bwidth.txt", "emoji 📄.pdf", "dir/name.txt", "back\\slash.log", "bell\u0007.bin",
  "\ufeffbom.txt", ".hidden", "noext", "trailing.", "archive.tar.gz", "UPPER.JPEG", "x.", "", " ", "a/b/", "a/.c"
]

const extensions = [
  ...new Set(
    [standardTypes, otherTypes].flatMap((types) =>
      Object.values(types as Record<string, ReadonlyArray<string>>).flat().map((ext) => ext.replace(/^\*/, ""))
    )
  )
]

describe("migration 0002's frozen rules", () => {
  it("key legacy documents and outputs as today's NameKey does", () => {
    const source = "0b9f2d1e-8a3c-4c0e-9a57-3e2d1c0b9a88"
    const run = "3e2d1c0b-9a88-4c0e-9a57-0b9f2d1e8a3c"
    const id = "9a573e2d-1c0b-4a88-8b9f-2d1e8a3c4c0e"
    for (const name of names) {
      expect(FrozenNameKeys.legacyKey({ kind: "document", name, sourceFileId: null, runId: null, id })).toBe(
        NameKey.nameKey({ kind: "input", name })
      )
      for (const [sourceFileId, runId] of [[source, run], [null, run], [null, null]] as const) {
        expect(FrozenNameKeys.legacyKey({ kind: "output", name, sourceFileId, runId, id })).toBe(
          NameKey.nameKey({ kind: "output", sourceFileId, runId, id })
        )
      }
    }
  })

  it("give every name the content type today's ContentType infers", () => {
    expect(extensions.length).toBeGreaterThan(1000)
    const corpus = [
      ...names,
      ...extensions.flatMap((ext) => [`file.${ext}`, `FILE.${ext.toUpperCase()}`, `dir/sub.dir/x.${ext}`, ext])
    ]
    const differences = corpus.filter((name) => FrozenContentTypes.infer(name) !== ContentType.infer(name))
    expect(differences).toEqual([])
    expect(FrozenContentTypes.fallback).toBe(ContentType.fallback)
  })
})
