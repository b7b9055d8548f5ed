import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Logger from "effect/Logger"
import * as Migrations from "../src/Migrations.js"
import * as NameKey from "../src/NameKey.js"
import { migrations as history } from "../migrations/index.js"
import legacyBaseline from "../migrations/0001_legacy_baseline.js"
import { createDatabase, layer, withClient } from "./support/Database.js"
import { columnsOf, dataSnapshot, schemaSnapshot } from "./support/introspection.js"
import { alembicSchema, fillBulk, fillMessyData, type LegacyFile, type MessyFixture } from "./support/legacy.js"

const run = promisify(execFile)

const steps = Object.keys(history).length
const lastStep = Object.keys(history).at(-1)!
// A database migrated up to a step (the Migrator runs only ids above the highest applied, so the
// steps after it must be left out too), and the steps that then remain.
const stepsBefore = (id: string) => Object.fromEntries(Object.entries(history).filter(([step]) => step < id))
const stepsFrom = (id: string) => Object.keys(history).filter((step) => step >= id)

const migrate = (url: string, options?: Migrations.RunOptions) =>
  Effect.runPromise(Migrations.run(options).pipe(Effect.provide(layer(url))))

/** The change trigger function's rights and settings (0006, 0009, 0010). */
const changeTriggerSettings = (url: string) =>
  withClient(url, async (client) =>
    (await client.query<{ definer: boolean; config: Array<string> }>(
      `SELECT prosecdef AS definer, proconfig AS config FROM pg_proc WHERE proname = 'record_document_change'`
    )).rows[0]!)

const migrateExit = (url: string, options?: Migrations.RunOptions) =>
  Effect.runPromiseExit(Migrations.run(options).pipe(Effect.provide(layer(url))))

/** A database holding the legacy schema as 0001 creates it, and nothing recorded by the Migrator. */
const legacyDatabase = async () => {
  const url = await createDatabase("legacy")
  await Effect.runPromise(
    SqlClient.SqlClient.pipe(Effect.flatMap((sql) => sql.withTransaction(legacyBaseline)), Effect.provide(layer(url)))
  )
  return url
}

const alembicDatabase = async () => {
  const url = await createDatabase("alembic")
  await withClient(url, (client) => client.query(alembicSchema))
  return url
}

const migrateProcess = (url: string, ...args: Array<string>) =>
  run(process.execPath, ["--import", "tsx", "src/migrate.ts", ...args], {
    env: { ...process.env, DATABASE_URL: url, NODE_ENV: "test" }
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr
    })
  )

/** The name keys the rules and the collision policy demand, computed independently of the migration. */
const expectedNameKeys = (files: ReadonlyArray<LegacyFile>): Map<string, string> => {
  const groups = new Map<string, Array<{ file: LegacyFile; key: string }>>()
  for (const file of files) {
    const key = file.kind === "document"
      ? NameKey.normalizeName(file.name)
      : NameKey.nameKey({ kind: "output", sourceFileId: file.parentFileId, runId: file.runId, id: file.id })
    const group = `${file.workspaceId}|${file.kind}|${key}`
    groups.set(group, [...(groups.get(group) ?? []), { file, key }])
  }
  const expected = new Map<string, string>()
  for (const members of groups.values()) {
    members.sort((a, b) =>
      b.file.updatedAt.localeCompare(a.file.updatedAt) || (a.file.id < b.file.id ? 1 : a.file.id > b.file.id ? -1 : 0)
    )
    members.forEach(({ file, key }, rank) =>
      expected.set(file.id, rank === 0 ? key : NameKey.disambiguatedKey(key, file.id))
    )
  }
  return expected
}

const targetColumns = {
  files: {
    id: "uuid NOT NULL",
    workspace_id: "uuid NOT NULL",
    kind: "text NOT NULL",
    name: "text NOT NULL",
    name_key: "text NOT NULL",
    source_file_id: "uuid NULL",
    run_id: "uuid NULL",
    created_at: "timestamp with time zone NOT NULL",
    updated_at: "timestamp with time zone NOT NULL"
  },
  file_versions: {
    id: "uuid NOT NULL",
    file_id: "uuid NOT NULL",
    version_no: "integer NOT NULL",
    storage_key: "text NOT NULL",
    storage_version_id: "text NULL",
    content_type: "text NULL",
    byte_size: "bigint NOT NULL",
    sha256: "text NULL",
    created_at: "timestamp with time zone NOT NULL"
  },
  document_changes: {
    id: "bigint NOT NULL",
    tx_id: "xid8 NOT NULL",
    workspace_id: "uuid NOT NULL",
    document_id: "uuid NOT NULL",
    kind: "text NOT NULL",
    op: "text NOT NULL",
    version_no: "integer NULL",
    changed_at: "timestamp with time zone NOT NULL"
  }
}

/** Every check of the target schema a migrated database must pass, whichever path it came by. */
const expectTargetSchema = async (url: string) => {
  await withClient(url, async (client) => {
    const schema = await schemaSnapshot(client)
    expect(schema.tables.map((t) => t.table)).toEqual([
      "api_tokens",
      "document_changes",
      "document_consumers",
      "document_feed",
      "effect_sql_migrations",
      "file_versions",
      "files"
    ])
    for (const [table, columns] of Object.entries(targetColumns)) {
      expect(await columnsOf(client, table)).toEqual(columns)
    }
    const constraints = Object.fromEntries(
      schema.constraints.map((c: any) => [`${c.table}.${c.conname}`, c.definition])
    )
    expect(constraints).toMatchObject({
      "files.files_pkey": "PRIMARY KEY (id)",
      "files.files_kind_check": expect.stringContaining("'input'::text, 'output'::text, 'log'::text, 'export'::text"),
      "files.files_source_file_id_fkey": "FOREIGN KEY (source_file_id) REFERENCES files(id) ON DELETE SET NULL",
      "files.files_workspace_id_kind_name_key_key": "UNIQUE (workspace_id, kind, name_key)",
      "file_versions.file_versions_pkey": "PRIMARY KEY (id)",
      "file_versions.file_versions_file_id_fkey": "FOREIGN KEY (file_id) REFERENCES files(id) ON DELETE CASCADE",
      "file_versions.file_versions_file_id_version_no_key": "UNIQUE (file_id, version_no)",
      "file_versions.file_versions_byte_size_check": "CHECK ((byte_size >= 0))",
      "file_versions.file_versions_version_no_check": "CHECK ((version_no >= 1))",
      "file_versions.file_versions_sha256_check": "CHECK (((length(sha256) = 64) AND (sha256 !~ '[^0-9a-f]'::text)))",
      "document_changes.document_changes_pkey": "PRIMARY KEY (tx_id, id)"
    })
    expect(Object.keys(constraints).filter((name) => name.startsWith("files.")).sort()).toEqual([
      "files.files_kind_check",
      "files.files_pkey",
      "files.files_source_file_id_fkey",
      "files.files_workspace_id_kind_name_key_key"
    ])
    expect(schema.indexes.map((i: any) => i.indexname)).toEqual([
      "api_tokens_pkey",
      "api_tokens_token_sha256_key",
      "api_tokens_workspace_id",
      "document_changes_pkey",
      "document_changes_workspace_feed_order",
      "document_consumers_pkey",
      "document_feed_pkey",
      "effect_sql_migrations_pkey",
      "file_versions_file_id_version_no_key",
      "file_versions_pkey",
      "file_versions_storage_key",
      "files_pkey",
      "files_source_file_id",
      "files_workspace_id_kind_name_key_key",
      "files_workspace_listing"
    ])
    expect(schema.triggers.map((t: any) => `${t.table}.${t.tgname}`)).toEqual([
      "file_versions.file_versions_changes_insert",
      "file_versions.file_versions_generated_content_type_insert",
      "file_versions.file_versions_generated_content_type_update",
      "files.files_changes_delete",
      "files.files_changes_insert",
      "files.files_changes_update"
    ])
    expect(schema.triggers.every((t: any) => t.tgenabled === "O")).toBe(true)
    expect(schema.functions.map((f: any) => f.proname)).toEqual([
      "document_feed_facts",
      "document_feed_observe",
      "document_workspace",
      "next_version_no",
      "record_document_change",
      "record_document_update",
      "require_generated_content_type"
    ])
    expect(schema.functions.filter((f: any) => /notify/i.test(f.definition))).toEqual([])
    const [feed] = (await client.query(`SELECT * FROM document_feed`)).rows
    expect(feed.epoch).toMatch(/^[0-9a-f-]{36}$/)
    // 0011: the cluster the feed's transaction ids belong to, and the watermark.
    const [{ cluster }] = (await client.query(`SELECT system_identifier::text AS cluster FROM pg_control_system()`)).rows
    expect(feed).toMatchObject({ cluster_id: cluster, seen_xmax: expect.stringMatching(/^\d+$/) })
  })
}

const expectMigratedData = async (url: string, fixture: MessyFixture) => {
  const expectedKeys = expectedNameKeys(fixture.files)
  await withClient(url, async (client) => {
    const files = (await client.query(`SELECT * FROM files ORDER BY id`)).rows
    const versions = (await client.query(`SELECT * FROM file_versions ORDER BY id`)).rows
    const legacyVersions = fixture.files.flatMap((f) => f.versions.map((v) => ({ ...v, file: f })))

    // Nothing lost, nothing added, no id changed.
    expect(files.map((f) => f.id).sort()).toEqual(fixture.files.map((f) => f.id).sort())
    expect(versions.map((v) => v.id).sort()).toEqual(legacyVersions.map((v) => v.id).sort())

    for (const legacy of fixture.files) {
      const row = files.find((f) => f.id === legacy.id)!
      expect(row).toMatchObject({
        workspace_id: legacy.workspaceId,
        kind: legacy.kind === "document" ? "input" : "output",
        name: legacy.name,
        name_key: expectedKeys.get(legacy.id),
        source_file_id: legacy.parentFileId,
        run_id: legacy.runId
      })
      expect(row.updated_at.toISOString()).toBe(new Date(legacy.updatedAt).toISOString())
    }
    for (const legacy of legacyVersions) {
      const row = versions.find((v) => v.id === legacy.id)!
      const generated = legacy.file.kind === "output"
      expect(row).toMatchObject({
        file_id: legacy.file.id,
        version_no: legacy.versionNo,
        storage_version_id: legacy.blobVersionId.trim() === "" ? null : legacy.blobVersionId,
        content_type: legacy.contentType ?? (generated ? expect.any(String) : null),
        sha256: legacy.sha256?.toLowerCase() ?? null
      })
    }
    const contentTypeOf = (label: string) =>
      versions.filter((v) => v.file_id === fixture.named[label]).map((v) => v.content_type).sort()
    expect(contentTypeOf("outputRun1")).toEqual(["text/csv"])
    expect(contentTypeOf("orphanB")).toEqual(["application/json"])
    expect(contentTypeOf("mystery")).toEqual(["application/octet-stream"])
    expect(contentTypeOf("unknownExtension")).toEqual(["application/octet-stream"])
    expect(contentTypeOf("typedOutput")).toEqual(["text/plain", "text/x-custom"])
    expect(contentTypeOf("cafeUpper")).toEqual([null])

    // The cases spelled out, so a wrong oracle cannot hide a wrong migration.
    const keyOf = (label: string) => files.find((f) => f.id === fixture.named[label])!.name_key
    const { named } = fixture
    expect(keyOf("reportNewest")).toBe("report.pdf")
    expect(keyOf("reportOld")).toBe(`report.pdf#${named.reportOld}`)
    expect(keyOf("reportMiddle")).toBe(`report.pdf#${named.reportMiddle}`)
    const spacedWinner = named.spacedA! > named.spacedB! ? "spacedA" : "spacedB"
    expect(keyOf(spacedWinner)).toBe("my report.pdf")
    expect(keyOf("spacedC")).toBe(`my report.pdf#${named.spacedC}`)
    expect(keyOf("accentLower")).toBe("été.txt")
    expect(keyOf("accentUpper")).toBe(`été.txt#${named.accentUpper}`)
    expect(keyOf("greekUpper")).toBe("οδος")
    expect(keyOf("greekLower")).toBe(`οδος#${named.greekLower}`)
    expect(keyOf("cafeDecomposed")).toBe("caf\u00e9.txt")
    expect(keyOf("cafeComposed")).toBe(`caf\u00e9.txt#${named.cafeComposed}`)
    expect(keyOf("slashes")).toBe("a/b\\c.txt")
    expect(keyOf("otherWorkspace")).toBe("report.pdf")
    expect(keyOf("outputRun2")).toBe(`output:${named.reportNewest}`)
    expect(keyOf("outputRun1")).toBe(`output:${named.reportNewest}#${named.outputRun1}`)
    const orphanB = files.find((f) => f.id === named.orphanB)!
    expect(keyOf("orphanB")).toBe(`output:${orphanB.run_id}`)
    expect(keyOf("orphanA")).toBe(`output:${orphanB.run_id}#${named.orphanA}`)
    expect(keyOf("mystery")).toBe(`output:${named.mystery}`)
    expect(keyOf("outputOfDeleted")).toMatch(/^output:[0-9a-f-]{36}$/)

    // One created change per document, and only those.
    const changes = (await client.query(`SELECT document_id, workspace_id, op, kind FROM document_changes`)).rows
    expect(changes.map((c) => c.document_id).sort()).toEqual(fixture.files.map((f) => f.id).sort())
    expect(new Set(changes.map((c) => c.op))).toEqual(new Set(["created"]))
  })
}

const expectContentTypeEnforced = async (url: string, fixture: MessyFixture) => {
  await withClient(url, async (client) => {
    const insert = (fileId: string, contentType: string | null) =>
      client.query(
        `INSERT INTO file_versions (id, file_id, version_no, storage_key, content_type, byte_size)
         VALUES (gen_random_uuid(), $1, 99, 'k', $2, 1)`,
        [fileId, contentType]
      )
    await expect(insert(fixture.named.mystery!, null)).rejects.toMatchObject({ code: "23514" })
    await expect(insert(fixture.named.reportNewest!, null)).resolves.toBeDefined()
    await expect(client.query(`UPDATE file_versions SET content_type = NULL WHERE file_id = $1`, [fixture.named.mystery]))
      .rejects.toMatchObject({ code: "23514" })
  })
}

describe("migrations", () => {
  it("take an empty database to the target schema", async () => {
    const url = await createDatabase()
    const applied = await migrate(url)
    expect(applied.map((step) => step.migration)).toEqual(Object.keys(history))
    await expectTargetSchema(url)
  })

  it("take a messy legacy database to the target schema, losing nothing", async () => {
    const url = await legacyDatabase()
    const fixture = await withClient(url, fillMessyData)
    const legacyEvents = await withClient(url, async (c) => (await c.query(`SELECT count(*)::int AS n FROM document_events`)).rows[0].n)
    expect(legacyEvents).toBeGreaterThan(0)
    await migrate(url)
    await expectTargetSchema(url)
    await expectMigratedData(url, fixture)
    await expectContentTypeEnforced(url, fixture)
  })

  it("log exactly how many storage ids and content types 0002 repaired", async () => {
    const url = await legacyDatabase()
    const fixture = await withClient(url, fillMessyData)
    const lines: Array<string> = []
    const capture = Logger.make(({ message }) => lines.push(Array.isArray(message) ? message.join(" ") : String(message)))
    await Effect.runPromise(
      Migrations.run().pipe(Effect.provide(layer(url)), Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
    )
    const versions = fixture.files.flatMap((file) => file.versions.map((version) => ({ file, version })))
    const blanks = versions.filter(({ version }) => version.blobVersionId.trim() === "").length
    const backfilled = versions.filter(({ file, version }) => file.kind === "output" && version.contentType === null).length
    expect(blanks).toBeGreaterThan(0)
    expect(backfilled).toBeGreaterThan(0)
    expect(lines).toContain(`storage_version_id: ${blanks} blank values set to NULL`)
    expect(lines).toContain(`content_type: ${backfilled} versions of generated documents backfilled`)
  })

  it("adopt an Alembic deployment unchanged, then migrate it the same way", async () => {
    const url = await alembicDatabase()
    const fixture = await withClient(url, fillMessyData)
    const applied = await migrate(url, {
      migrations: {
        ...history,
        // Adoption must not change a thing: compare the database around step 0001 alone.
        "0001_legacy_baseline": Effect.gen(function*() {
          const before = yield* Effect.promise(() => withClient(url, schemaSnapshot))
          yield* history["0001_legacy_baseline"]!
          expect(yield* Effect.promise(() => withClient(url, schemaSnapshot))).toEqual(before)
        })
      }
    })
    expect(applied.map((step) => step.migration)).toEqual(Object.keys(history))
    await expectTargetSchema(url)
    await expectMigratedData(url, fixture)
    await expectContentTypeEnforced(url, fixture)
  })

  it("give an upgraded database exactly the schema of a fresh install", async () => {
    const fresh = await createDatabase()
    await migrate(fresh)
    const upgraded = await alembicDatabase()
    await withClient(upgraded, fillMessyData)
    await migrate(upgraded)
    const shape = async (url: string) => {
      const { sequences, ...schema } = await withClient(url, schemaSnapshot)
      return { ...schema, sequences: sequences.map(({ last_value: _, ...rest }: any) => rest) }
    }
    expect(await shape(upgraded)).toEqual(await shape(fresh))
  })

  it("apply nothing when run again", async () => {
    const url = await legacyDatabase()
    await withClient(url, fillMessyData)
    await migrate(url)
    const before = await withClient(url, dataSnapshot)
    expect(await migrate(url)).toEqual([])
    expect(await withClient(url, dataSnapshot)).toEqual(before)
  })

  it("let two migrate processes start at once: one applies, the other finds nothing pending", async () => {
    const url = await legacyDatabase()
    await withClient(url, async (client) => {
      await fillMessyData(client)
      await fillBulk(client, 20_000)
    })
    const [a, b] = await Promise.all([migrateProcess(url), migrateProcess(url)])
    expect([a.code, b.code]).toEqual([0, 0])
    const outputs = [a.stdout, b.stdout]
    expect(outputs.filter((out) => out.includes("applied 0002_simplify_files"))).toHaveLength(1)
    expect(outputs.filter((out) => out.includes("Nothing pending"))).toHaveLength(1)
    await withClient(url, async (client) => {
      const { rows } = await client.query(
        `SELECT (SELECT count(*)::int FROM effect_sql_migrations) AS steps,
                (SELECT count(*)::int FROM files) AS files,
                (SELECT count(*)::int FROM document_changes) AS changes,
                (SELECT count(DISTINCT document_id)::int FROM document_changes) AS documents`
      )
      expect(rows[0]).toEqual({ steps: Object.keys(history).length, files: rows[0].files, changes: rows[0].files, documents: rows[0].files })
    })
  })

  describe("a step that fails midway leaves the legacy database exactly as it was", () => {
    const expectUnchangedAfter = async (url: string, options: Migrations.RunOptions, failing: string) => {
      const snapshot = async () =>
        withClient(url, async (client) => ({ schema: await schemaSnapshot(client), data: await dataSnapshot(client) }))
      const before = await snapshot()
      const exit = await migrateExit(url, options)
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(exit.cause).toMatchObject({ _tag: "Fail", error: { _tag: "MigrationFailed", migration: failing } })
      }
      expect(await snapshot()).toEqual(before)
    }

    it("when the database refuses a write inside 0002's backfill", async () => {
      const url = await alembicDatabase()
      await withClient(url, async (client) => {
        await fillMessyData(client)
        // A guard of the operator's: it lets the first steps of 0002 through and stops the name-key backfill.
        await client.query(`
          CREATE FUNCTION refuse_output_keys() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'refusing %', NEW.name_key; END $$;
          CREATE TRIGGER refuse_output_keys BEFORE UPDATE OF name_key ON files
          FOR EACH ROW WHEN (NEW.name_key LIKE 'output:%') EXECUTE FUNCTION refuse_output_keys();`)
      })
      await expectUnchangedAfter(url, {}, "0002_simplify_files")
    })

    it("when the last step fails after everything else was done", async () => {
      const url = await legacyDatabase()
      await withClient(url, fillMessyData)
      const failingLast = { ...history, [lastStep]: Effect.zipRight(history[lastStep]!, Effect.fail(new Error("injected"))) }
      await expectUnchangedAfter(url, { migrations: failingLast }, lastStep)
    })
  })

  describe("0008 checksum check", () => {
    const oldRule = "CHECK ((sha256 ~ '^[0-9a-f]{64}$'::text))"

    it("accepts and refuses exactly the checksums the regex of 0002 did", async () => {
      const hex = fc.stringMatching(/^[0-9a-f]{64}$/)
      const candidates = fc.oneof(
        hex,
        fc.stringMatching(/^[0-9a-fA-F]{62,66}$/),
        hex.map((s) => `${s}\n`),
        fc.tuple(hex, fc.nat({ max: 63 }), fc.string({ minLength: 1, maxLength: 1, unit: "binary" }))
          .map(([s, at, c]) => s.slice(0, at) + c + s.slice(at + 1)),
        fc.string({ maxLength: 70, unit: "binary" }),
        fc.constant(null)
      )
      const url = await createDatabase()
      await withClient(url, async (client) => {
        await fc.assert(
          fc.asyncProperty(fc.array(candidates, { minLength: 1, maxLength: 50 }), async (values) => {
            // A CHECK passes unless its expression is false.
            const { rows } = await client.query<{ old: boolean; new: boolean }>(
              `SELECT (s ~ '^[0-9a-f]{64}$') IS NOT FALSE AS old,
                      (length(s) = 64 AND s !~ '[^0-9a-f]') IS NOT FALSE AS new
               FROM unnest($1::text[]) s`,
              [values.map((v) => v?.replaceAll("\0", "") ?? null)]
            )
            for (const row of rows) expect(row.new).toBe(row.old)
          }),
          { numRuns: 200 }
        )
      })
    })

    it("gives a database migrated with the old rule the new one", async () => {
      const url = await createDatabase()
      await migrate(url, { migrations: stepsBefore("0008") })
      // As 0002 created it before it wrote the rule the cheaper way.
      await withClient(url, (client) =>
        client.query(`ALTER TABLE file_versions DROP CONSTRAINT file_versions_sha256_check,
          ADD CONSTRAINT file_versions_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$')`))
      const definition = () =>
        withClient(url, async (client) =>
          (await client.query<{ def: string }>(
            `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'file_versions_sha256_check'`
          )).rows[0]!.def)
      expect(await definition()).toBe(oldRule)
      const applied = await migrate(url)
      expect(applied.map((step) => step.migration)).toEqual(stepsFrom("0008"))
      await expectTargetSchema(url)
    })
  })

  describe("0009 change trigger memory", () => {
    it("runs the change trigger with 32 MB of work_mem, still as the owner with a fixed search_path", async () => {
      const url = await createDatabase()
      await migrate(url, { migrations: stepsBefore("0009") })
      expect(await changeTriggerSettings(url)).toEqual({ definer: true, config: ["search_path=public, pg_temp"] })
      const applied = await migrate(url)
      expect(applied.map((step) => step.migration)).toEqual(stepsFrom("0009"))
      expect(await changeTriggerSettings(url)).toEqual({ definer: true, config: ["search_path=public, pg_temp", "work_mem=32MB"] })
    })
  })

  describe("0010 change trigger lookup", () => {
    it("keeps the work_mem the owner chose, and the function's rights", async () => {
      const url = await createDatabase()
      await migrate(url, { migrations: stepsBefore("0010") })
      await withClient(url, (client) => client.query(`ALTER FUNCTION record_document_change() SET work_mem = '64MB'`))
      const applied = await migrate(url)
      expect(applied.map((step) => step.migration)).toEqual(stepsFrom("0010"))
      expect(await changeTriggerSettings(url)).toEqual({ definer: true, config: ["search_path=public, pg_temp", "work_mem=64MB"] })
    })

    it("logs a statement's versions by looking each document up, not by reading all of files, in version order", async () => {
      const url = await createDatabase()
      await migrate(url)
      await withClient(url, async (client) => {
        // Enough documents and versions that a join would hash the whole table (the plan before 0010).
        await client.query(`
          INSERT INTO files (id, workspace_id, kind, name, name_key)
          SELECT gen_random_uuid(), gen_random_uuid(), 'input', 'doc-' || g, 'doc-' || g FROM generate_series(1, 3000) g`)
        await client.query(`ANALYZE files`)
        // The content-type check reads files too (and may scan a table this small): off, so the count is the change log's.
        await client.query(`ALTER TABLE file_versions DISABLE TRIGGER file_versions_generated_content_type_insert`)
        const seqScans = async () => {
          await client.query(`SELECT pg_stat_force_next_flush()`)
          const { rows } = await client.query<{ n: string }>(`SELECT seq_scan AS n FROM pg_stat_user_tables WHERE relname = 'files'`)
          return Number(rows[0]!.n)
        }
        const documents = (await client.query<{ id: string }>(`SELECT id FROM files LIMIT 2000`)).rows.map((row) => row.id)
        const before = await seqScans()
        // Two versions of each of 2,000 documents, the later one first.
        const inserted = await client.query(
          `INSERT INTO file_versions (id, file_id, version_no, storage_key, byte_size)
           SELECT gen_random_uuid(), id, n, 'blobs/' || id || '/' || n, 1 FROM unnest($1::uuid[]) id, (VALUES (2), (1)) AS v(n)`,
          [documents]
        )
        expect(inserted.rowCount).toBe(4000)
        expect(await seqScans()).toBe(before)
        const { rows } = await client.query<{ document_id: string; version_no: number }>(
          `SELECT document_id, version_no FROM document_changes WHERE op = 'version_added' ORDER BY tx_id, id`
        )
        expect(rows).toHaveLength(4000)
        const previous = new Map<string, number>()
        for (const row of rows) {
          expect(row.version_no).toBe((previous.get(row.document_id) ?? 0) + 1)
          previous.set(row.document_id, row.version_no)
        }
      })
    })
  })

  it("refuse a database with an unrelated files table, and leave it untouched", async () => {
    const url = await createDatabase()
    await withClient(url, (client) =>
      client.query(`
        CREATE TABLE files (id serial PRIMARY KEY, path text NOT NULL, size bigint);
        INSERT INTO files (path, size) VALUES ('/etc/hosts', 120), ('/tmp/x', 0);`))
    const before = await withClient(url, async (c) => ({ schema: await schemaSnapshot(c), data: await dataSnapshot(c) }))
    const result = await migrateProcess(url)
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/Migration failed at 0001_legacy_baseline: The database already has files, but not the legacy schema/)
    expect(result.stderr).toMatch(/files\.workspace_id is missing/)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/)
    const after = await withClient(url, async (c) => ({ schema: await schemaSnapshot(c), data: await dataSnapshot(c) }))
    expect(after).toEqual(before)
  })

  it("report status: applied and pending steps", async () => {
    const url = await createDatabase()
    const before = await migrateProcess(url, "status")
    expect(before.code).toBe(0)
    expect(before.stdout).toMatch(/pending +0001_legacy_baseline/)
    expect(before.stdout).toMatch(new RegExp(`0 applied, ${steps} pending`))
    await migrate(url)
    const after = await migrateProcess(url, "status")
    expect(after.stdout).toMatch(new RegExp(`applied +${lastStep}`))
    expect(after.stdout).toMatch(new RegExp(`${steps} applied, 0 pending`))
    const again = await migrateProcess(url)
    expect(again).toMatchObject({ code: 0 })
    expect(again.stdout).toMatch(new RegExp(`Nothing pending: the database is at ${lastStep}`))
  })
})
