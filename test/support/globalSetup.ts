/**
 * One PostgreSQL server for the whole run: `TEST_DATABASE_URL` when given,
 * else an embedded server in a temporary directory, stopped and removed at
 * the end. Test files get the URL through `inject("databaseUrl")` and create
 * their own databases on it (support/Database.ts).
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import type { TestProject } from "vitest/node"
import * as Embedded from "../../src/internal/embedded.js"

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

export default async function setup(project: TestProject) {
  const configured = process.env.TEST_DATABASE_URL
  if (configured) {
    project.provide("databaseUrl", configured)
    return
  }
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-test-"))
  // Durability against a crashed server holds without fsync; only an OS crash needs it.
  const server = await Embedded.ensure(directory, {
    database: "postgres",
    settings: {
      fsync: "off",
      full_page_writes: "off",
      max_connections: "300",
      // The fan-out test counts the feed queries the server receives.
      shared_preload_libraries: "pg_stat_statements"
    }
  })
  project.provide("databaseUrl", server.url)
  return async () => {
    await Embedded.stop(directory)
    await fs.rm(directory, { recursive: true, force: true })
  }
}
