import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { migrations as history } from "../migrations/index.js"
import { createDatabase } from "./support/Database.js"

const run = promisify(execFile)

describe("examples", () => {
  it("migrate-programmatically migrates a fresh database and lists the target tables", async () => {
    const url = await createDatabase("example")
    const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/migrate-programmatically.ts"], {
      env: { ...process.env, DATABASE_URL: url }
    })
    const steps = Object.keys(history)
    expect(stdout).toMatch(new RegExp(`applied ${steps.at(-1)} in \\d+ ms`))
    expect(stdout).toMatch(new RegExp(`${steps.length} applied now; ${steps.length} applied in total, 0 pending`))
    expect(stdout).toMatch(/tables: api_tokens, document_changes, document_consumers, document_feed, effect_sql_migrations, file_versions, files/)
  })
})

describe("examples/documents", () => {
  it("composes the database and documents layers and prints what it stored", async () => {
    const url = await createDatabase("example")
    const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/documents.ts"], {
      env: { ...process.env, DATABASE_URL: url }
    })
    expect(stdout).toMatch(/uploaded "Quarterly Report.pdf" twice: document reused, now at version 2/)
    expect(stdout).toMatch(/output output:[0-9a-f-]{36} is text\/csv/)
    expect(stdout).toMatch(/log log:[0-9a-f-]{36} is text\/plain; charset=utf-8/)
    expect(stdout).toMatch(/input +Quarterly Report.pdf +v2 +51007 bytes/)
    expect(stdout).toMatch(/output +summary.csv +v1 +1204 bytes/)
  })
})

describe("examples/consumer", () => {
  it("runs a durable consumer over the documents it wrote and prints its index", async () => {
    const url = await createDatabase("example")
    const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/consumer.ts", "2"], {
      env: { ...process.env, DATABASE_URL: url }
    })
    expect(stdout).toMatch(/indexed a batch of \d+ change\(s\)/)
    expect(stdout).toMatch(/^Contract\.pdf: 2 version\(s\)$/m)
    expect(stdout).toMatch(/^Invoice 7\.pdf: 1 version\(s\)$/m)
  })
})
