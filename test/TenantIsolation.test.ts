/**
 * Tenant isolation in the database: the library connected as a runtime role
 * that owns nothing, with row-level security (migration 0006) keeping every
 * statement inside the workspace the library set for its transaction.
 *
 * Set-up as an operator would do it: a migration owner (no superuser) owns the
 * database and runs `migrate`, then grants the runtime role what
 * `TenantIsolation.grantStatements` lists. Roles are cluster-wide: both get
 * unique names and are dropped at the end.
 */
import { randomBytes, randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type pg from "pg"
import { inject } from "vitest"
import type { Change } from "../src/Change.js"
import * as Database from "../src/Database.js"
import * as DocumentChanges from "../src/DocumentChanges.js"
import * as Documents from "../src/Documents.js"
import * as Migrations from "../src/Migrations.js"
import * as TenantScoping from "../src/internal/tenantScoping.js"
import * as TenantIsolation from "../src/TenantIsolation.js"
import { withClient } from "./support/Database.js"

const suffix = randomBytes(5).toString("hex")
const ownerRole = `docstore_owner_${suffix}`
const appRole = `docstore_app_${suffix}`
const database = `docstore_isolation_${suffix}`
const password = randomBytes(12).toString("hex")

const urlAs = (role: string) => {
  const url = new URL(inject("databaseUrl"))
  url.username = role
  url.password = password
  url.pathname = `/${database}`
  return url.toString()
}
const ownerUrl = urlAs(ownerRole)
const appUrl = urlAs(appRole)

const client = (url: string, maxConnections?: number) => Database.layer({ url: Redacted.make(url), maxConnections })
const services = Layer.mergeAll(Documents.layer, DocumentChanges.layer({ pollInterval: "50 millis" }))
/** The library as the runtime role, in isolation mode. */
const isolatedLayer = (maxConnections?: number) =>
  services.pipe(Layer.provideMerge(TenantIsolation.layer), Layer.provideMerge(client(appUrl, maxConnections)))
/** The library as the owner, in the default mode. */
const ownerLayer = services.pipe(Layer.provideMerge(client(ownerUrl)))

const admin = <A>(body: (client: pg.Client) => Promise<A>) => withClient(inject("databaseUrl"), body)
const asApp = <A>(body: (client: pg.Client) => Promise<A>) => withClient(appUrl, body)
const asOwner = <A>(body: (client: pg.Client) => Promise<A>) => withClient(ownerUrl, body)

/** The error a raw statement fails with, or `undefined` when it succeeds. */
const failure = (client: pg.Client, text: string, values: Array<unknown> = []) =>
  client.query(text, values).then(() => undefined, (error: Error & { code?: string }) => `${error.code}: ${error.message}`)

const counts = (client: pg.Client) =>
  client.query(
    `SELECT (SELECT count(*)::int FROM files) AS files, (SELECT count(*)::int FROM file_versions) AS versions,
            (SELECT count(*)::int FROM document_changes) AS changes`
  ).then((result) => result.rows[0] as { files: number; versions: number; changes: number })

const version = (overrides: Partial<Documents.VersionInput> = {}): Documents.VersionInput => ({
  storageKey: `blobs/${randomUUID()}`,
  byteSize: 10,
  ...overrides
})

const A = randomUUID()
const B = randomUUID()

let app: ManagedRuntime.ManagedRuntime<Documents.Documents | DocumentChanges.DocumentChanges | SqlClient.SqlClient, unknown>
/** What the set-up wrote through the isolated library. */
const seeded = { a: "", aOutput: "", b: "", bVersionId: randomUUID() }

beforeAll(async () => {
  await admin(async (c) => {
    await c.query(`CREATE ROLE ${ownerRole} LOGIN PASSWORD '${password}'`)
    await c.query(`CREATE ROLE ${appRole} LOGIN PASSWORD '${password}' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`)
    await c.query(`CREATE DATABASE ${database} OWNER ${ownerRole} TEMPLATE template0`)
  })
  await Effect.runPromise(
    Effect.zipRight(Migrations.run(), TenantIsolation.grant(appRole)).pipe(Effect.provide(client(ownerUrl)))
  )
  app = ManagedRuntime.make(isolatedLayer())
  await app.runPromise(Effect.gen(function*() {
    const documents = yield* Documents.Documents
    const a = yield* documents.put({ kind: "input", workspaceId: A, name: "shared.txt", version: version() })
    yield* documents.put({ kind: "input", workspaceId: A, name: "shared.txt", version: version() })
    const aOutput = yield* documents.put({
      kind: "output", workspaceId: A, name: "summary.json", sourceDocumentId: a.document.id, version: version()
    })
    const b = yield* documents.put({
      kind: "input", workspaceId: B, name: "shared.txt", version: version({ id: seeded.bVersionId })
    })
    Object.assign(seeded, { a: a.document.id, aOutput: aOutput.document.id, b: b.document.id })
  }))
}, 60_000)

afterAll(async () => {
  await app?.dispose()
  await admin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await c.query(`DROP ROLE IF EXISTS ${appRole}`)
    await c.query(`DROP ROLE IF EXISTS ${ownerRole}`)
  })
}, 60_000)

const changesOf = (events: Chunk.Chunk<DocumentChanges.FeedEvent>): Array<Change> =>
  Chunk.toReadonlyArray(events).flatMap((event) => event._tag === "Change" ? [event.change] : [])

describe("TenantIsolation", () => {
  it.live("the runtime role owns nothing, cannot bypass RLS, and RLS is enabled (not forced) on the three tables", () =>
    Effect.promise(() =>
      asOwner(async (c) => {
        const role = await c.query(
          `SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1`,
          [appRole]
        )
        expect(role.rows).toEqual([{ rolsuper: false, rolbypassrls: false, rolcanlogin: true }])
        const tables = await c.query(
          `SELECT relname, relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) AS owner FROM pg_class
           WHERE relname IN ('files', 'file_versions', 'document_changes') AND relkind = 'r' ORDER BY relname`
        )
        expect(tables.rows).toEqual(["document_changes", "file_versions", "files"].map((relname) => ({
          relname,
          relrowsecurity: true,
          relforcerowsecurity: false,
          owner: ownerRole
        })))
      })
    ))

  it.live("workspace A's document operations never see or modify B's documents or versions", () =>
    Effect.gen(function*() {
      const documents = yield* Documents.Documents
      const notFound = (effect: Effect.Effect<unknown, unknown>) =>
        Effect.map(Effect.flip(effect), (error) => (error as { _tag: string })._tag)
      const b = { workspaceId: A, documentId: seeded.b }
      expect(yield* notFound(documents.get(b))).toBe("DocumentNotFound")
      expect(yield* notFound(documents.versions(b))).toBe("DocumentNotFound")
      expect(yield* notFound(documents.latestVersion(b))).toBe("DocumentNotFound")
      expect(yield* notFound(documents.version({ ...b, versionNo: 1 }))).toBe("DocumentNotFound")
      expect(yield* notFound(documents.delete(b))).toBe("DocumentNotFound")
      // An output in A may not name B's document as its source.
      expect(yield* notFound(documents.put({
        kind: "output", workspaceId: A, name: "x.json", sourceDocumentId: seeded.b, version: version()
      }))).toBe("DocumentNotFound")
      // B's version id, replayed into A: a conflict, and B's version stays as it was.
      const replay = yield* Effect.flip(documents.put({
        kind: "input", workspaceId: A, name: "shared.txt", version: version({ id: seeded.bVersionId })
      }))
      expect(replay._tag).toBe("Conflict")
      // The same name in both workspaces: each finds its own.
      expect((yield* documents.find({ kind: "input", workspaceId: A, name: "shared.txt" })).id).toBe(seeded.a)
      expect((yield* documents.find({ kind: "input", workspaceId: B, name: "shared.txt" })).id).toBe(seeded.b)
      const listed = yield* documents.list({ workspaceId: A })
      expect(listed.documents.map((d) => d.id).sort()).toEqual([seeded.a, seeded.aOutput].sort())
      expect((yield* documents.versions({ workspaceId: A, documentId: seeded.a })).map((v) => v.versionNo)).toEqual([1, 2])
      // One putMany writes one workspace under isolation.
      const mixed = yield* Effect.flip(documents.putMany([
        { kind: "input", workspaceId: A, name: "bulk-a.txt", version: version() },
        { kind: "input", workspaceId: B, name: "bulk-b.txt", version: version() }
      ]))
      expect(mixed).toMatchObject({ _tag: "InvalidInput", field: "1.workspaceId" })
      const bulk = yield* documents.putMany([
        { kind: "input", workspaceId: B, name: "bulk-b.txt", version: version() },
        { kind: "input", workspaceId: B, name: "bulk-b.txt", version: version() }
      ])
      expect(bulk.map((w) => w.versionNo)).toEqual([1, 2])
      // And one putStream, whichever chunk the other workspace's write is in.
      const mixedStream = yield* Effect.flip(documents.putStream(Stream.fromIterable([
        { kind: "input", workspaceId: A, name: "stream-a.txt", version: version({ id: randomUUID() }) },
        { kind: "input", workspaceId: B, name: "stream-b.txt", version: version({ id: randomUUID() }) }
      ])))
      expect(mixedStream).toMatchObject({ _tag: "InvalidInput", field: "1.workspaceId" })
      const streamed = yield* documents.putStream(Stream.fromIterable([
        { kind: "input", workspaceId: B, name: "bulk-b.txt", version: version({ id: randomUUID() }) }
      ]))
      expect(streamed).toEqual({ written: 1, replayed: 0 })
      // The owner sees B untouched: its document, its one version with its own id, and nothing named x.json.
      const b_ = yield* Effect.promise(() =>
        asOwner(async (c) =>
          (await c.query(
            `SELECT f.workspace_id, v.id AS version_id, v.version_no, (SELECT count(*)::int FROM files WHERE name = 'x.json') AS x
             FROM files f JOIN file_versions v ON v.file_id = f.id WHERE f.id = $1`,
            [seeded.b]
          )).rows)
      )
      expect(b_).toEqual([{ workspace_id: B, version_id: seeded.bVersionId, version_no: 1, x: 0 }])
    }).pipe(Effect.provide(app)))

  it.live("streams and durable consumers of A deliver A's changes only, from history and live; without a workspace they are refused", () =>
    Effect.gen(function*() {
      const documents = yield* Documents.Documents
      const feed = yield* DocumentChanges.DocumentChanges
      const history = yield* feed.stream({ from: "beginning", workspaceId: A }).pipe(
        Stream.takeUntil((event) => event._tag === "CaughtUp"),
        Stream.runCollect
      )
      const expected = yield* Effect.promise(() =>
        asOwner(async (c) =>
          (await c.query(`SELECT id::text FROM document_changes WHERE workspace_id = $1 ORDER BY tx_id, id`, [A])).rows
            .map((row) => row.id)
        )
      )
      expect(changesOf(history).map((change) => String(change.id))).toEqual(expected)
      expect(expected.length).toBeGreaterThanOrEqual(5)

      // Live: B writes first, then A; A's stream's first live changes are A's.
      const caughtUp = yield* Deferred.make<void>()
      const live = yield* feed.stream({ from: "now", workspaceId: A }).pipe(
        Stream.tap((event) => event._tag === "CaughtUp" ? Deferred.succeed(caughtUp, undefined) : Effect.void),
        Stream.filter((event) => event._tag === "Change"),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(caughtUp)
      yield* documents.put({ kind: "input", workspaceId: B, name: "live-b.txt", version: version() })
      const liveA = yield* documents.put({ kind: "input", workspaceId: A, name: "live-a.txt", version: version() })
      const delivered = changesOf(yield* Fiber.join(live))
      expect(delivered.map((change) => [change.workspaceId, change.documentId, change.op])).toEqual([
        [A, liveA.document.id, "created"],
        [A, liveA.document.id, "version_added"]
      ])

      // A durable consumer of A: every change it handles is A's, up to a new write of A's made after one of B's.
      const handled: Array<Change> = []
      const done = yield* Deferred.make<void>()
      let marker: string | undefined
      const sawMarker = () =>
        marker !== undefined && handled.some((change) => change.documentId === marker && change.op === "version_added")
      const consumer = yield* feed.consume({
        name: `indexer-${suffix}`,
        workspaceId: A,
        handler: (changes) =>
          Effect.suspend(() => {
            handled.push(...changes)
            return sawMarker() ? Deferred.succeed(done, undefined) : Effect.void
          })
      }).pipe(Effect.fork)
      yield* documents.put({ kind: "input", workspaceId: B, name: "after-b.txt", version: version() })
      marker = (yield* documents.put({ kind: "input", workspaceId: A, name: "marker.txt", version: version() })).document.id
      if (sawMarker()) yield* Deferred.succeed(done, undefined)
      yield* Deferred.await(done)
      yield* Fiber.interrupt(consumer)
      expect(handled.length).toBeGreaterThanOrEqual(expected.length + 4)
      expect(handled.filter((change) => change.workspaceId !== A)).toEqual([])

      // No workspace, no stream and no consumer.
      const refused = yield* Effect.flip(Stream.runDrain(feed.stream({ from: "beginning" })))
      expect(refused).toMatchObject({ _tag: "InvalidInput", field: "workspaceId" })
      const refusedConsumer = yield* Effect.flip(feed.consume({ name: `all-${suffix}`, handler: () => Effect.void }))
      expect(refusedConsumer).toMatchObject({ _tag: "InvalidInput", field: "workspaceId" })
    }).pipe(Effect.provide(app)), { timeout: 30_000 })

  it.live("a raw query as the runtime role without a workspace sees no row of the three tables and can write none", () =>
    Effect.promise(async () => {
      const before = await asOwner(counts)
      expect(Math.min(before.files, before.versions, before.changes)).toBeGreaterThan(0)
      await asApp(async (c) => {
        expect(await counts(c)).toEqual({ files: 0, versions: 0, changes: 0 })
        expect(await failure(
          c,
          `INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', 'raw.txt', 'raw.txt')`,
          [randomUUID(), A]
        )).toMatch(/^42501: new row violates row-level security policy for table "files"/)
        expect(await failure(
          c,
          `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size) VALUES ($1, $2, 99, 'k', 1)`,
          [randomUUID(), seeded.a]
        )).toMatch(/^42501: new row violates row-level security policy for table "file_versions"/)
        expect(await failure(
          c,
          `INSERT INTO document_changes (workspace_id, document_id, kind, op) VALUES ($1, $2, 'input', 'created')`,
          [A, seeded.a]
        )).toMatch(/^42501: permission denied for table document_changes/)
        expect((await c.query(`UPDATE files SET name = 'renamed'`)).rowCount).toBe(0)
        expect((await c.query(`DELETE FROM files`)).rowCount).toBe(0)
      })
      expect(await asOwner(counts)).toEqual(before)
    }))

  it.live("a raw query with the workspace set to A sees exactly A's rows, and cannot write into B", () =>
    Effect.promise(async () => {
      const ofA = await asOwner(async (c) =>
        (await c.query(
          `SELECT (SELECT count(*)::int FROM files WHERE workspace_id = $1) AS files,
                  (SELECT count(*)::int FROM file_versions v JOIN files f ON f.id = v.file_id WHERE f.workspace_id = $1) AS versions,
                  (SELECT count(*)::int FROM document_changes WHERE workspace_id = $1) AS changes`,
          [A]
        )).rows[0]
      )
      expect(Math.min(ofA.files, ofA.versions, ofA.changes)).toBeGreaterThan(0)
      const inA = async <T>(c: pg.Client, body: () => Promise<T>) => {
        await c.query("BEGIN")
        await c.query(`SELECT set_config('docstore.workspace_id', $1, true)`, [A])
        try {
          return await body()
        } finally {
          await c.query("ROLLBACK")
        }
      }
      await asApp(async (c) => {
        await inA(c, async () => {
          expect(await counts(c)).toEqual(ofA)
          const workspaces = await c.query(
            `SELECT workspace_id FROM files UNION SELECT workspace_id FROM document_changes
             UNION SELECT f.workspace_id FROM file_versions v JOIN files f ON f.id = v.file_id`
          )
          expect(workspaces.rows).toEqual([{ workspace_id: A }])
          expect((await c.query(`UPDATE files SET name = 'taken' WHERE id = $1`, [seeded.b])).rowCount).toBe(0)
          expect((await c.query(`DELETE FROM files WHERE id = $1`, [seeded.b])).rowCount).toBe(0)
        })
        await inA(c, async () =>
          expect(await failure(c, `UPDATE files SET workspace_id = $1 WHERE id = $2`, [B, seeded.a]))
            .toMatch(/^42501: new row violates row-level security policy for table "files"/))
        await inA(c, async () =>
          expect(await failure(
            c,
            `INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', 'raw.txt', 'raw.txt')`,
            [randomUUID(), B]
          )).toMatch(/^42501: new row violates row-level security policy for table "files"/))
        await inA(c, async () =>
          expect(await failure(
            c,
            `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size) VALUES ($1, $2, 99, 'k', 1)`,
            [randomUUID(), seeded.b]
          )).toMatch(/^42501: new row violates row-level security policy for table "file_versions"/))
      })
      expect(await asOwner(async (c) => (await c.query(`SELECT name FROM files WHERE id = $1`, [seeded.b])).rows))
        .toEqual([{ name: "shared.txt" }])
    }))

  it.live("a document and its first version written by one statement (a data-modifying WITH) pass the policies", () =>
    Effect.promise(() =>
      asApp(async (c) => {
        const write = (workspaceId: string) =>
          c.query(
            `WITH document AS (
               INSERT INTO files (id, workspace_id, kind, name, name_key) VALUES ($1, $2, 'input', 'cte.txt', $4)
               RETURNING id
             ), version AS (
               INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size)
               SELECT $3, document.id, 1, 'k', 1 FROM document
               RETURNING id, version_no
             )
             SELECT version.version_no FROM version`,
            [randomUUID(), workspaceId, randomUUID(), `cte-${randomUUID()}`]
          )
        await c.query("BEGIN")
        await c.query(`SELECT set_config('docstore.workspace_id', $1, true)`, [A])
        expect((await write(A)).rows).toEqual([{ version_no: 1 }])
        // The same statement for a document of B's is refused at the document already.
        expect(await write(B).then(() => undefined, (error: Error) => error.message))
          .toMatch(/new row violates row-level security policy for table "files"/)
        await c.query("ROLLBACK")
      })
    ))

  it.live("the workspace never outlives its transaction on a pooled connection", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const documents = yield* Documents.Documents
      const isolation = TenantScoping.scoping(sql, true)
      // One connection in the pool: every statement below runs on the same server session.
      const bare = sql<{ pid: number; workspace: string | null; files: number }>`
        SELECT pg_backend_pid() AS pid, current_setting('docstore.workspace_id', true) AS workspace,
               (SELECT count(*)::int FROM files) AS files`.pipe(Effect.map(([row]) => row!))
      const inside = yield* isolation.transaction(A)(bare)
      expect(inside.workspace).toBe(A)
      expect(inside.files).toBeGreaterThan(0)
      const after = yield* bare
      expect([after.pid, after.workspace ?? "", after.files]).toEqual([inside.pid, "", 0])
      // After the library's own write and reads for A …
      yield* documents.put({ kind: "input", workspaceId: A, name: "pooled.txt", version: version() })
      expect((yield* documents.list({ workspaceId: A })).documents.length).toBeGreaterThan(0)
      expect(yield* bare).toMatchObject({ pid: inside.pid, files: 0 })
      // … and after a transaction for A that failed and rolled back.
      yield* Effect.flip(isolation.transaction(A)(Effect.zipRight(bare, Effect.fail("rolled back"))))
      expect(yield* bare).toMatchObject({ pid: inside.pid, files: 0 })
    }).pipe(Effect.provide(isolatedLayer(1))))

  it.live("the runtime role cannot alter, drop or truncate the tables, turn row-level security off, or prune", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() =>
        asApp(async (c) => {
          const refused: Array<[string, RegExp]> = [
            ["ALTER TABLE files DISABLE ROW LEVEL SECURITY", /^42501: must be owner of table files/],
            ["ALTER TABLE document_changes DISABLE ROW LEVEL SECURITY", /^42501: must be owner of table document_changes/],
            ["DROP POLICY files_workspace ON files", /^42501: must be owner of (table|relation) files/],
            ["ALTER TABLE file_versions ADD COLUMN note text", /^42501: must be owner of table file_versions/],
            ["DROP TABLE file_versions", /^42501: must be owner of table file_versions/],
            ["TRUNCATE files, file_versions, document_changes", /^42501: permission denied for table/],
            ["DELETE FROM document_changes", /^42501: permission denied for table document_changes/],
            ["UPDATE document_feed SET horizon_id = NULL, horizon_tx_id = NULL", /^42501: permission denied for table document_feed/],
            ["SELECT * FROM effect_sql_migrations", /^42501: permission denied for table effect_sql_migrations/],
            ["ALTER FUNCTION record_document_change() SECURITY INVOKER", /^42501: must be owner of function/],
            ["CREATE TABLE files_copy (id uuid)", /^42501: permission denied for schema public/]
          ]
          for (const [statement, error] of refused) expect(await failure(c, statement), statement).toMatch(error)
          await c.query("SET row_security = off")
          expect(await failure(c, "SELECT count(*) FROM files"))
            .toMatch(/^42501: query would be affected by row-level security policy for table "files"/)
        })
      )
      // Retention moves the one global horizon: it runs as the owner.
      const feed = yield* DocumentChanges.DocumentChanges
      expect(yield* Effect.flip(feed.prune({ olderThan: "0 millis" }))).toMatchObject({ _tag: "DatabaseError" })
      expect((yield* Effect.promise(() => asOwner(counts))).changes).toBeGreaterThan(0)
    }).pipe(Effect.provide(app)))

  it.live("isolation mode refuses to start as a role the policies do not bind (the owner, a superuser)", () =>
    Effect.gen(function*() {
      const start = (url: string) =>
        Effect.flip(Effect.scoped(Layer.build(TenantIsolation.layer.pipe(Layer.provide(client(url))))))
      const asOwner_ = yield* start(ownerUrl)
      expect(asOwner_).toMatchObject({ _tag: "TenantIsolationUnavailable" })
      expect(asOwner_.message).toMatch(new RegExp(`the role ${ownerRole} owns files`))
      const superuser = new URL(inject("databaseUrl"))
      superuser.pathname = `/${database}`
      expect((yield* start(superuser.toString())).message).toMatch(/is a superuser/)
      // The runtime role passes the same check.
      yield* Effect.scoped(Layer.build(TenantIsolation.layer.pipe(Layer.provide(client(appUrl)))))
    }))

  it.live("the owner, in the default mode, sees every workspace and works as before", () =>
    Effect.gen(function*() {
      const documents = yield* Documents.Documents
      const feed = yield* DocumentChanges.DocumentChanges
      expect((yield* documents.get({ workspaceId: B, documentId: seeded.b })).id).toBe(seeded.b)
      expect((yield* documents.get({ workspaceId: A, documentId: seeded.a })).id).toBe(seeded.a)
      const written = yield* documents.put({ kind: "input", workspaceId: B, name: "by-owner.txt", version: version() })
      const all = changesOf(
        yield* feed.stream({ from: "beginning" }).pipe(
          Stream.takeUntil((event) => event._tag === "CaughtUp"),
          Stream.runCollect
        )
      )
      expect(new Set(all.map((change) => change.workspaceId))).toEqual(new Set([A, B]))
      expect(all.filter((change) => change.documentId === written.document.id).map((change) => change.op))
        .toEqual(["created", "version_added"])
      expect(all.length).toBe((yield* Effect.promise(() => asOwner(counts))).changes)
      expect(yield* feed.prune({ olderThan: "1 hour" })).toEqual({ deleted: 0, horizon: null })
    }).pipe(Effect.provide(ownerLayer)))
})
