import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { createDatabase } from "./support/Database.js"

const run = promisify(execFile)

describe("examples", () => {
  it("migrate-programmatically migrates a fresh database and lists the target tables", async () => {
    const url = await createDatabase("example")
    const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/migrate-programmatically.ts"], {
      env: { ...process.env, DATABASE_URL: url }
    })
    expect(stdout).toMatch(/applied 0004_document_indexes in \d+ ms/)
    expect(stdout).toMatch(/4 applied now; 4 applied in total, 0 pending/)
    expect(stdout).toMatch(/tables: document_changes, document_feed, effect_sql_migrations, file_versions, files/)
  })
})
