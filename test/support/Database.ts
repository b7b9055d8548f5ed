/**
 * A database of its own for each test (or test file), created on the run's
 * server, so files run in parallel without seeing each other.
 */
import { randomBytes } from "node:crypto"
import type { PgClient } from "@effect/sql-pg"
import type { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import { inject } from "vitest"
import * as Database from "../../src/Database.js"
import * as Migrations from "../../src/Migrations.js"
import type { MigrationFailed } from "../../src/Migrations.js"

const withServer = async <A>(body: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: inject("databaseUrl") })
  await client.connect()
  try {
    return await body(client)
  } finally {
    await client.end()
  }
}

/** Creates an empty database and returns its URL. */
export const createDatabase = async (prefix = "t"): Promise<string> => {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`
  await withServer((client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE template0`))
  const url = new URL(inject("databaseUrl"))
  url.pathname = `/${name}`
  return url.toString()
}

/** A raw `pg` client on the given database, for set-up and introspection the library must not do. */
export const withClient = async <A>(url: string, body: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await body(client)
  } finally {
    await client.end()
  }
}

/** The library's client layer on the given database. */
export const layer = (url: string): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | Database.Pool, SqlError> =>
  Database.layer({ url: Redacted.make(url) })

/** The library's client layer on a fresh database. */
export const layerFresh: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | Database.Pool, SqlError> = Layer.unwrapEffect(
  Effect.promise(() => createDatabase()).pipe(Effect.map(layer))
)

/** The library's client layer on a fresh database with every migration applied. */
export const layerMigrated: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | Database.Pool, SqlError | MigrationFailed> = Layer
  .unwrapEffect(
    Effect.promise(() => createDatabase()).pipe(
      Effect.map((url) => Layer.tap(layer(url), (context) => Effect.provide(Migrations.run(), context)))
    )
  )
