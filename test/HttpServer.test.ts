/**
 * The HTTP API through real HTTP: `docstore serve`'s layer on a free loopback
 * port, called with node's fetch. Documents and versions, every error answer,
 * tokens, limits and timeouts. The change feed: HttpServer.changes.test.ts.
 */
import { randomUUID } from "node:crypto"
import { Readable } from "node:stream"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ApiTokens from "../src/ApiTokens.js"
import { withClient } from "./support/Database.js"
import * as Http from "./support/httpServer.js"

let server: Http.Server
beforeAll(async () => {
  server = await Http.start({ http: { maxBodyBytes: 16 * 1024, requestTimeout: "3 seconds" } })
})
afterAll(() => server.close())

type Workspace = Awaited<ReturnType<Http.Server["workspace"]>>

const call = async (workspace: Pick<Workspace, "token"> | null, path: string, init: RequestInit = {}) => {
  const response = await fetch(`${server.base}${path}`, {
    ...init,
    headers: {
      ...(workspace ? { authorization: `Bearer ${workspace.token}` } : {}),
      ...(init.body ? { "content-type": "application/json" } : {}),
      ...init.headers
    }
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) }
}

const putBody = (name: string, extra: Record<string, unknown> = {}) => ({
  kind: "input",
  name,
  version: { storageKey: `k/${randomUUID()}`, byteSize: 3, contentType: "text/plain" },
  ...extra
})

const put = (workspace: Workspace, body: unknown) =>
  call(workspace, `/v1/workspaces/${workspace.workspaceId}/documents`, { method: "POST", body: JSON.stringify(body) })

const rowCounts = () =>
  withClient(server.url, async (client) =>
    (await client.query(`SELECT (SELECT count(*) FROM files)::int AS files, (SELECT count(*) FROM file_versions)::int AS versions`))
      .rows[0])

describe("documents and versions", () => {
  it("writes a version, answers a retry as replayed, and reads the document and its versions back", async () => {
    const ws = await server.workspace()
    const versionId = randomUUID()
    const body = putBody("Report.pdf", { version: { ...putBody("").version, id: versionId } })
    const first = await put(ws, body)
    expect(first.status).toBe(201)
    expect(first.body).toMatchObject({ replayed: false, document: { workspaceId: ws.workspaceId, name: "Report.pdf" } })
    expect(first.body.version).toMatchObject({ id: versionId, versionNo: 1, byteSize: 3, contentType: "text/plain" })
    const retry = await put(ws, body)
    expect(retry.status).toBe(200)
    expect(retry.body).toMatchObject({ replayed: true, version: { id: versionId } })
    const second = await put(ws, putBody("report.PDF "))
    expect(second.body.version.versionNo).toBe(2)

    const documentId = first.body.document.id
    const at = `/v1/workspaces/${ws.workspaceId}/documents/${documentId}`
    const document = await call(ws, at)
    expect(document.status).toBe(200)
    expect(document.body).toMatchObject({ id: documentId, kind: "input", nameKey: "report.pdf", sourceDocumentId: null })
    expect(new Date(document.body.createdAt).getTime()).toBeGreaterThan(0)
    const versions = await call(ws, `${at}/versions`)
    expect(versions.body.versions.map((v: { versionNo: number }) => v.versionNo)).toEqual([1, 2])
    const version = await call(ws, `${at}/versions/2`)
    expect(version.body).toMatchObject({ documentId, versionNo: 2, storageKey: second.body.version.storageKey })
  })

  it("lists by kind, newest first, in keyset pages, with the list-then-watch cursor", async () => {
    const ws = await server.workspace()
    const inputs = []
    for (let i = 0; i < 3; i++) inputs.push((await put(ws, putBody(`in-${i}.txt`))).body.document.id)
    const log = await put(ws, { kind: "log", name: "run.log", runId: randomUUID(), version: putBody("").version })
    expect(log.body.version.contentType).toBe("text/plain")
    const list = (query: string) => call(ws, `/v1/workspaces/${ws.workspaceId}/documents?${query}`)
    const page1 = await list("kind=input&limit=2")
    expect(page1.status).toBe(200)
    expect(page1.body.documents.map((d: { id: string }) => d.id)).toEqual([inputs[2], inputs[1]])
    expect(typeof page1.body.cursor).toBe("string")
    const page2 = await list(`kind=input&limit=2&pageToken=${page1.body.nextPageToken}`)
    expect(page2.body.documents.map((d: { id: string }) => d.id)).toEqual([inputs[0]])
    expect(page2.body.nextPageToken).toBeNull()
    const logs = await list("kind=log")
    expect(logs.body.documents.map((d: { id: string }) => d.id)).toEqual([log.body.document.id])
    const oldest = await list("order=oldest&limit=1")
    expect(oldest.body.documents[0].id).toBe(inputs[0])
  })

  it("deletes a document: 204, then 404 for it and its versions", async () => {
    const ws = await server.workspace()
    const { document } = (await put(ws, putBody("gone.txt"))).body
    const at = `/v1/workspaces/${ws.workspaceId}/documents/${document.id}`
    expect((await call(ws, at, { method: "DELETE" })).status).toBe(204)
    expect((await call(ws, at)).body).toMatchObject({ _tag: "DocumentNotFound", documentId: document.id })
    expect((await call(ws, `${at}/versions`)).status).toBe(404)
    expect((await call(ws, at, { method: "DELETE" })).status).toBe(404)
  })

  it("answers unknown ids 404 with the services' errors", async () => {
    const ws = await server.workspace()
    const missing = randomUUID()
    const at = `/v1/workspaces/${ws.workspaceId}/documents/${missing}`
    for (const path of [at, `${at}/versions`, `${at}/versions/1`]) {
      const answer = await call(ws, path)
      expect(answer.status).toBe(404)
      expect(answer.body).toEqual({ _tag: "DocumentNotFound", documentId: missing, message: `no document ${missing} in this workspace` })
    }
    const { document } = (await put(ws, putBody("one.txt"))).body
    const noVersion = await call(ws, `/v1/workspaces/${ws.workspaceId}/documents/${document.id}/versions/7`)
    expect(noVersion.status).toBe(404)
    expect(noVersion.body).toMatchObject({ _tag: "VersionNotFound", versionNo: 7 })
    const output = await put(ws, { kind: "output", name: "o.csv", sourceDocumentId: missing, version: putBody("").version })
    expect(output.body).toMatchObject({ _tag: "DocumentNotFound", documentId: missing })
  })

  it("answers bad input 400 naming the field, and writes nothing", async () => {
    const ws = await server.workspace()
    const base = `/v1/workspaces/${ws.workspaceId}`
    const { document } = (await put(ws, putBody("keep.txt"))).body
    const before = await rowCounts()
    const cases: ReadonlyArray<readonly [string, RequestInit, string]> = [
      [`${base}/documents`, { method: "POST", body: JSON.stringify(putBody("a/b")) }, "name"],
      [`${base}/documents`, { method: "POST", body: JSON.stringify(putBody("x", { version: { storageKey: "k", byteSize: 1, sha256: "nope" } })) }, "version.sha256"],
      [`${base}/documents`, { method: "POST", body: JSON.stringify(putBody("x", { version: { storageKey: "k", byteSize: -1 } })) }, "version.byteSize"],
      [`${base}/documents`, { method: "POST", body: JSON.stringify({ ...putBody("x"), kind: "nonsense" }) }, "kind"],
      [`${base}/documents`, { method: "POST", body: "{not json" }, "body"],
      [`${base}/documents?limit=0`, {}, "limit"],
      [`${base}/documents?kind=folder`, {}, "kind"],
      [`${base}/documents?pageToken=garbage`, {}, "pageToken"],
      [`${base}/documents/not-a-uuid`, {}, "documentId"],
      [`${base}/documents/${document.id}/versions/0`, {}, "versionNo"],
      [`/v1/workspaces/not-a-uuid/documents`, {}, "workspaceId"]
    ]
    for (const [path, init, field] of cases) {
      const answer = await call(ws, path, init)
      expect({ path, status: answer.status, tag: answer.body?._tag, field: answer.body?.field }).toEqual({
        path,
        status: 400,
        tag: "InvalidInput",
        field
      })
      expect(typeof answer.body.message).toBe("string")
    }
    expect(await rowCounts()).toEqual(before)
  })

  it("answers a retried version id with different metadata 409", async () => {
    const ws = await server.workspace()
    const id = randomUUID()
    await put(ws, putBody("c.txt", { version: { id, storageKey: "k/1", byteSize: 1 } }))
    const answer = await put(ws, putBody("c.txt", { version: { id, storageKey: "k/2", byteSize: 1 } }))
    expect(answer.status).toBe(409)
    expect(answer.body).toMatchObject({ _tag: "Conflict" })
  })
})

describe("tokens", () => {
  it("answers 401 without a token, with an unknown one, and with a revoked one", async () => {
    const ws = await server.workspace()
    const path = `/v1/workspaces/${ws.workspaceId}/documents`
    const missing = await call(null, path)
    expect(missing.status).toBe(401)
    expect(missing.body).toMatchObject({ _tag: "Unauthorized" })
    expect((await call({ token: `${ApiTokens.secretPrefix}forged` }, path)).status).toBe(401)
    expect((await call({ token: "" }, path)).status).toBe(401)
    expect((await call(ws, path)).status).toBe(200)
    await server.runtime.runPromise(Effect.flatMap(ApiTokens.ApiTokens, (tokens) => tokens.revoke({ tokenId: ws.tokenId })))
    const revoked = await call(ws, path)
    expect(revoked.status).toBe(401)
    expect(revoked.body.message).toMatch(/revoked/)
  })

  it("stores only the sha256 of a token", async () => {
    const ws = await server.workspace()
    const stored = await withClient(server.url, (client) =>
      client.query(`SELECT token_sha256 FROM api_tokens WHERE id = $1`, [ws.tokenId]))
    expect(stored.rows[0].token_sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(stored.rows)).not.toContain(ws.token)
  })

  it("answers another workspace's documents 404, exactly as missing ones", async () => {
    const a = await server.workspace()
    const b = await server.workspace()
    const { document } = (await put(a, putBody("secret.txt"))).body
    const asB = await call(b, `/v1/workspaces/${a.workspaceId}/documents/${document.id}`)
    const missing = randomUUID()
    const absent = await call(b, `/v1/workspaces/${b.workspaceId}/documents/${missing}`)
    expect(asB.status).toBe(404)
    expect(asB.body).toEqual({ ...absent.body, documentId: document.id, message: absent.body.message.replace(missing, document.id) })
    for (const path of ["", "/versions", "/versions/1"]) {
      expect((await call(b, `/v1/workspaces/${a.workspaceId}/documents/${document.id}${path}`)).status).toBe(404)
    }
    expect((await call(b, `/v1/workspaces/${a.workspaceId}/documents/${document.id}`, { method: "DELETE" })).status).toBe(404)
    const listing = await call(b, `/v1/workspaces/${a.workspaceId}/documents`)
    expect(listing.status).toBe(404)
    expect(listing.body).toMatchObject({ _tag: "WorkspaceNotFound" })
    expect((await call(b, `/v1/workspaces/${a.workspaceId}/changes`)).status).toBe(404)
    expect((await put({ ...b, workspaceId: a.workspaceId }, putBody("planted.txt"))).status).toBe(404)
    expect((await call(a, `/v1/workspaces/${a.workspaceId}/documents/${document.id}`)).status).toBe(200)
  })

  it("accepts the token as ?access_token= (for EventSource)", async () => {
    const ws = await server.workspace()
    expect((await call(null, `/v1/workspaces/${ws.workspaceId}/documents?access_token=${ws.token}`)).status).toBe(200)
  })
})

describe("limits", () => {
  it("answers an oversized body 413, declared or streamed, and writes nothing", async () => {
    const ws = await server.workspace()
    const before = await rowCounts()
    const big = JSON.stringify(putBody("big.txt", { padding: "x".repeat(20 * 1024) }))
    const declared = await put(ws, JSON.parse(big))
    expect(declared.status).toBe(413)
    expect(declared.body).toMatchObject({ _tag: "PayloadTooLarge", maxBytes: 16 * 1024 })
    // No Content-Length: the limit holds while reading.
    const streamed = await fetch(`${server.base}/v1/workspaces/${ws.workspaceId}/documents`, {
      method: "POST",
      headers: { authorization: `Bearer ${ws.token}`, "content-type": "application/json" },
      body: Readable.toWeb(Readable.from([big.slice(0, 10_000), big.slice(10_000)])) as ReadableStream,
      duplex: "half"
    } as RequestInit)
    expect(streamed.status).toBe(413)
    expect(await rowCounts()).toEqual(before)
  })

  it("answers a request that outlasts the request timeout 503", async () => {
    const ws = await server.workspace()
    const { document } = (await put(ws, putBody("locked.txt"))).body
    // A transaction of someone else's holds the document's row: the delete waits for it.
    await withClient(server.url, async (client) => {
      await client.query("BEGIN")
      await client.query("SELECT 1 FROM files WHERE id = $1 FOR UPDATE", [document.id])
      const started = Date.now()
      const answer = await call(ws, `/v1/workspaces/${ws.workspaceId}/documents/${document.id}`, { method: "DELETE" })
      expect(answer.status).toBe(503)
      expect(answer.body).toMatchObject({ _tag: "RequestTimeout" })
      expect(Date.now() - started).toBeLessThan(6_000)
      await client.query("ROLLBACK")
    })
  })

  it("serves the OpenAPI document generated from the API", async () => {
    const answer = await call(null, "/openapi.json")
    expect(answer.status).toBe(200)
    expect(answer.body.info.title).toBe("effect-docstore")
    expect(Object.keys(answer.body.paths)).toEqual(expect.arrayContaining([
      "/v1/workspaces/{workspaceId}/documents",
      "/v1/workspaces/{workspaceId}/documents/{documentId}/versions/{versionNo}",
      "/v1/workspaces/{workspaceId}/changes"
    ]))
  })
})
