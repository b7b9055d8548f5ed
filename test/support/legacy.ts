/**
 * Legacy databases for the migration tests: the schema as an Alembic
 * deployment has it (built here without the Migrator, with Alembic's own
 * constraint names), and messy data covering every case of SPEC section 3.
 */
import { randomUUID } from "node:crypto"
import type pg from "pg"

/** The legacy schema as Alembic built it, `alembic_version` included. */
export const alembicSchema = `
  CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
  );
  INSERT INTO alembic_version VALUES ('7c1e2f9a0b3d');
  CREATE TABLE files (
    id             uuid NOT NULL,
    workspace_id   uuid NOT NULL,
    kind           text NOT NULL,
    doc_no         integer NOT NULL,
    name           text NOT NULL,
    name_key       text NOT NULL,
    parent_file_id uuid,
    run_id         uuid,
    version        integer NOT NULL DEFAULT 1,
    expires_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_files PRIMARY KEY (id),
    CONSTRAINT ck_files_kind CHECK (kind IN ('document', 'output')),
    CONSTRAINT fk_files_parent_file_id_files FOREIGN KEY (parent_file_id) REFERENCES files (id) ON DELETE SET NULL,
    CONSTRAINT uq_files_workspace_id_doc_no UNIQUE (workspace_id, doc_no),
    CONSTRAINT uq_files_workspace_id_kind_name_key UNIQUE (workspace_id, kind, name_key)
  );
  CREATE TABLE file_versions (
    id              uuid NOT NULL,
    file_id         uuid NOT NULL,
    version_no      integer NOT NULL,
    storage_key     text NOT NULL,
    blob_version_id text NOT NULL,
    content_type    text,
    byte_size       bigint NOT NULL,
    sha256          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_file_versions PRIMARY KEY (id),
    CONSTRAINT fk_file_versions_file_id_files FOREIGN KEY (file_id) REFERENCES files (id) ON DELETE CASCADE,
    CONSTRAINT uq_file_versions_file_id_version_no UNIQUE (file_id, version_no)
  );
  CREATE TABLE idempotency_keys (
    workspace_id uuid NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (workspace_id, key)
  );
  CREATE TABLE document_events (
    id           bigserial NOT NULL,
    workspace_id uuid NOT NULL,
    file_id      uuid NOT NULL,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_document_events PRIMARY KEY (id)
  );
  CREATE FUNCTION notify_document_event() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE body jsonb; ws uuid; fid uuid; evt text;
  BEGIN
    IF TG_TABLE_NAME = 'files' THEN
      IF TG_OP = 'DELETE' THEN body := to_jsonb(OLD); ws := OLD.workspace_id; fid := OLD.id; evt := 'deleted';
      ELSE body := to_jsonb(NEW); ws := NEW.workspace_id; fid := NEW.id;
           evt := CASE TG_OP WHEN 'INSERT' THEN 'created' ELSE 'updated' END;
      END IF;
    ELSE
      body := to_jsonb(NEW); fid := NEW.file_id; evt := 'version_added';
      SELECT workspace_id INTO ws FROM files WHERE id = NEW.file_id;
    END IF;
    INSERT INTO document_events (workspace_id, file_id, event_type, payload) VALUES (ws, fid, evt, body);
    PERFORM pg_notify('document_events', body::text);
    RETURN NULL;
  END $$;
  CREATE TRIGGER files_document_events AFTER INSERT OR UPDATE OR DELETE ON files
    FOR EACH ROW EXECUTE FUNCTION notify_document_event();
  CREATE TRIGGER file_versions_document_events AFTER INSERT ON file_versions
    FOR EACH ROW EXECUTE FUNCTION notify_document_event();
`

export interface LegacyVersion {
  readonly id: string
  readonly versionNo: number
  readonly blobVersionId: string
  readonly contentType: string | null
  readonly sha256: string | null
}

export interface LegacyFile {
  readonly id: string
  readonly workspaceId: string
  readonly kind: "document" | "output"
  readonly name: string
  /** After the fixture's deletions: what the migration will see. */
  readonly parentFileId: string | null
  readonly runId: string | null
  readonly updatedAt: string
  readonly versions: ReadonlyArray<LegacyVersion>
}

export interface MessyFixture {
  readonly workspaces: readonly [string, string]
  readonly files: ReadonlyArray<LegacyFile>
  /** Named rows the tests talk about. */
  readonly named: Readonly<Record<string, string>>
}

const hex = (n: number) => Array.from({ length: n }, (_, i) => "0123456789abcdef"[(i * 7 + n) % 16]).join("")

/** Fills a legacy database (0001's or Alembic's) with messy data; legacy triggers fire as they did in production. */
export const fillMessyData = async (client: pg.Client): Promise<MessyFixture> => {
  const w1 = randomUUID()
  const w2 = randomUUID()
  const files: Array<LegacyFile> = []
  const named: Record<string, string> = {}
  const docNo = new Map<string, number>()
  let versionCounter = 0

  const file = async (
    label: string,
    spec: {
      workspaceId?: string
      kind?: "document" | "output"
      name: string
      nameKey?: string
      parentFileId?: string | null
      runId?: string | null
      updatedAt: string
      versions?: ReadonlyArray<{ blobVersionId?: string; contentType?: string | null; sha256?: string | null }>
    }
  ) => {
    const id = randomUUID()
    const workspaceId = spec.workspaceId ?? w1
    const kind = spec.kind ?? "document"
    const no = (docNo.get(workspaceId) ?? 0) + 1
    docNo.set(workspaceId, no)
    await client.query(
      `INSERT INTO files (id, workspace_id, kind, doc_no, name, name_key, parent_file_id, run_id, version,
                          expires_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
      [id, workspaceId, kind, no, spec.name, spec.nameKey ?? spec.name, spec.parentFileId ?? null, spec.runId ?? null,
        (spec.versions ?? [{}]).length, no % 2 === 0 ? "2030-01-01T00:00:00Z" : null, spec.updatedAt]
    )
    const versions: Array<LegacyVersion> = []
    for (const [index, version] of (spec.versions ?? [{}]).entries()) {
      versionCounter += 1
      const row: LegacyVersion = {
        id: randomUUID(),
        versionNo: index + 1,
        blobVersionId: version.blobVersionId ?? `blob-${versionCounter}`,
        contentType: version.contentType === undefined ? (kind === "document" ? "application/pdf" : null) :
          version.contentType,
        sha256: version.sha256 === undefined ? hex(64) : version.sha256
      }
      await client.query(
        `INSERT INTO file_versions (id, file_id, version_no, storage_key, blob_version_id, content_type, byte_size,
                                    sha256, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [row.id, id, row.versionNo, `${workspaceId}/${id}/${row.versionNo}`, row.blobVersionId, row.contentType,
          1000 * row.versionNo, row.sha256, spec.updatedAt]
      )
      versions.push(row)
    }
    // updated_at as the legacy app left it, after the version inserts.
    await client.query(`UPDATE files SET updated_at = $2 WHERE id = $1`, [id, spec.updatedAt])
    named[label] = id
    files.push({
      id,
      workspaceId,
      kind,
      name: spec.name,
      parentFileId: spec.parentFileId ?? null,
      runId: spec.runId ?? null,
      updatedAt: spec.updatedAt,
      versions
    })
    return id
  }

  // Inputs whose names differ only by case, whitespace or composition: one key each group.
  await file("reportOld", { name: "Report.pdf", updatedAt: "2024-01-01T00:00:00Z" })
  await file("reportNewest", {
    name: " report.PDF ",
    updatedAt: "2024-03-01T00:00:00Z",
    versions: [{}, { blobVersionId: "" }, { blobVersionId: "   " }]
  })
  await file("reportMiddle", { name: "REPORT.pdf", updatedAt: "2024-02-01T00:00:00Z" })
  await file("spacedA", { name: "My  Report.pdf", updatedAt: "2024-01-05T00:00:00Z" })
  await file("spacedB", { name: "my report.pdf", updatedAt: "2024-01-05T00:00:00Z" })
  await file("spacedC", { name: "My\tReport.pdf\u3000", updatedAt: "2023-06-01T00:00:00Z" })
  await file("accentUpper", { name: "ÉTÉ.txt", updatedAt: "2024-01-01T00:00:00Z" })
  await file("accentLower", { name: "été.txt", updatedAt: "2024-01-02T00:00:00Z" })
  await file("greekUpper", { name: "ΟΔΟΣ", updatedAt: "2024-01-02T00:00:00Z" })
  await file("greekLower", { name: "οδος", updatedAt: "2024-01-01T00:00:00Z" })
  await file("cafeComposed", { name: "café.txt", updatedAt: "2024-01-01T00:00:00Z" })
  await file("cafeDecomposed", { name: "cafe\u0301.txt", updatedAt: "2024-01-03T00:00:00Z" })
  await file("cafeUpper", { name: "CAFÉ.TXT", updatedAt: "2024-01-02T00:00:00Z", versions: [{ contentType: null }] })
  // Names new uploads would refuse: kept verbatim.
  await file("slashes", { name: "a/b\\c.txt", updatedAt: "2024-01-01T00:00:00Z", versions: [{ blobVersionId: "\t" }] })
  await file("control", { name: "bell\u0007.txt", updatedAt: "2024-01-01T00:00:00Z" })
  await file("upperSha", { name: "checksums.bin", updatedAt: "2024-01-01T00:00:00Z", versions: [{ sha256: "ABCDEF" + hex(58) }] })
  await file("noSha", { name: "nosha.bin", updatedAt: "2024-01-01T00:00:00Z", versions: [{ sha256: null, contentType: null }] })
  // The same name in another workspace is no collision.
  await file("otherWorkspace", { workspaceId: w2, name: "Report.pdf", updatedAt: "2020-01-01T00:00:00Z" })

  // Outputs: several per input (one per run), orphans, and outputs with neither input nor run.
  const [r1, r2, r3, r6] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()]
  await file("outputRun1", {
    kind: "output",
    name: "report-summary.csv",
    parentFileId: named.reportNewest,
    runId: r1,
    updatedAt: "2024-04-01T00:00:00Z",
    versions: [{ blobVersionId: "" }]
  })
  await file("outputRun2", {
    kind: "output",
    name: "report-summary (2).csv",
    parentFileId: named.reportNewest,
    runId: r2,
    updatedAt: "2024-05-01T00:00:00Z",
    versions: [{}, {}]
  })
  await file("orphanA", { kind: "output", name: "orphan.json", runId: r3, updatedAt: "2024-01-01T00:00:00Z" })
  await file("orphanB", { kind: "output", name: "orphan-2.JSON", runId: r3, updatedAt: "2024-01-02T00:00:00Z" })
  await file("mystery", { kind: "output", name: "mystery", updatedAt: "2024-01-01T00:00:00Z" })
  await file("unknownExtension", { kind: "output", name: "weird.unknownext", updatedAt: "2024-01-01T00:00:00Z" })
  await file("typedOutput", {
    kind: "output",
    name: "log.txt",
    runId: r6,
    updatedAt: "2024-01-01T00:00:00Z",
    versions: [{ contentType: "text/x-custom" }, { contentType: null }]
  })
  // An output whose input was deleted: the foreign key set its parent to NULL.
  const doomed = await file("deletedInput", { name: "deleted.pdf", updatedAt: "2024-01-01T00:00:00Z" })
  const run7 = randomUUID()
  await file("outputOfDeleted", {
    kind: "output",
    name: "from-deleted.pdf",
    parentFileId: doomed,
    runId: run7,
    updatedAt: "2024-01-01T00:00:00Z"
  })
  await client.query(`DELETE FROM files WHERE id = $1`, [doomed])
  files.splice(files.findIndex((f) => f.id === doomed), 1)
  const orphaned = files.findIndex((f) => f.id === named.outputOfDeleted)
  files[orphaned] = { ...files[orphaned]!, parentFileId: null }
  delete named.deletedInput

  await client.query(
    `INSERT INTO idempotency_keys (workspace_id, key, request_hash, response)
     VALUES ($1, 'upload-1', 'abc', '{"ok": true}'), ($1, 'upload-2', 'def', NULL)`,
    [w1]
  )
  return { workspaces: [w1, w2], files, named }
}

/** Inserts `count` plain documents (one version each) into a legacy database, in one statement. */
export const fillBulk = async (client: pg.Client, count: number): Promise<void> => {
  const workspace = randomUUID()
  await client.query(
    `WITH docs AS (
       SELECT gen_random_uuid() AS id, n FROM generate_series(1, $2::int) n
     ), inserted AS (
       INSERT INTO files (id, workspace_id, kind, doc_no, name, name_key)
       SELECT id, $1, CASE WHEN n % 3 = 0 THEN 'output' ELSE 'document' END, n, 'File ' || n || '.pdf', 'file ' || n || '.pdf'
       FROM docs RETURNING id
     )
     INSERT INTO file_versions (id, file_id, version_no, storage_key, blob_version_id, byte_size)
     SELECT gen_random_uuid(), id, 1, id::text, '', 1 FROM inserted`,
    [workspace, count]
  )
}
