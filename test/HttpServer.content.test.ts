/**
 * The bytes of versions through real HTTP: uploads streamed into the blob
 * store (beyond the JSON body limit, up to the upload limit), downloads with
 * the sha256 as `ETag`, ranges and conditional requests, and every error.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { withClient } from "./support/Database.js"
import * as Http from "./support/httpServer.js"

let server: Http.Server
beforeAll(async () => {
  server = await Http.start({ http: { maxBodyBytes: 16 * 1024, maxUploadBytes: 4 * 1024 * 1024, requestTimeout: "3 seconds" } })
})
afterAll(() => server.close())

type Workspace = Awaited<ReturnType<Http.Server["workspace"]>>

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const upload = async (ws: Workspace, params: Record<string, string>, body: RequestInit["body"], headers: Record<string, string> = {}) => {
  const response = await fetch(`${server.base}/v1/workspaces/${ws.workspaceId}/documents/upload?${new URLSearchParams(params)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ws.token}`, ...headers },
    body,
    duplex: "half"
  } as RequestInit)
  const text = await response.text()
  return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
}

/** An upload on node's own client, which reads the answer while the body is still being sent. */
const rawUpload = (ws: Workspace, headers: Record<string, string>, send: (request: http.ClientRequest) => void) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.request(`${server.base}/v1/workspaces/${ws.workspaceId}/documents/upload?kind=input&name=big.bin`, {
      method: "POST",
      headers: { authorization: `Bearer ${ws.token}`, ...headers }
    }, (response) => {
      let body = ""
      response.on("data", (chunk) => (body += chunk)).on("end", () => {
        request.destroy()
        resolve({ status: response.statusCode!, body })
      })
    })
    request.on("error", reject)
    request.flushHeaders()
    send(request)
  })

const contentUrl = (ws: Workspace, documentId: string, versionNo: number) =>
  `${server.base}/v1/workspaces/${ws.workspaceId}/documents/${documentId}/versions/${versionNo}/content`

const download = async (ws: Workspace, documentId: string, versionNo: number, headers: Record<string, string> = {}) => {
  const response = await fetch(contentUrl(ws, documentId, versionNo), { headers: { authorization: `Bearer ${ws.token}`, ...headers } })
  return { status: response.status, headers: response.headers, bytes: new Uint8Array(await response.arrayBuffer()) }
}

const state = async () => ({
  rows: await withClient(server.url, async (client) =>
    (await client.query(`SELECT (SELECT count(*) FROM files)::int AS files, (SELECT count(*) FROM file_versions)::int AS versions`))
      .rows[0]),
  blobs: (await fs.readdir(path.join(server.blobRoot, "sha256")).catch(() => [])).length
})

describe("upload", () => {
  it("streams a body larger than the JSON limit into the blob store and records what the store reported", async () => {
    const ws = await server.workspace()
    const bytes = randomBytes(3 * 1024 * 1024)
    const first = await upload(ws, { kind: "input", name: "Scan.pdf" }, bytes, { "content-type": "application/pdf" })
    expect(first.status).toBe(201)
    expect(first.body).toMatchObject({
      replayed: false,
      document: { name: "Scan.pdf", kind: "input" },
      version: { versionNo: 1, byteSize: bytes.length, sha256: sha256(bytes), contentType: "application/pdf" }
    })
    expect(first.body.version.storageKey).toBe(`sha256/${sha256(bytes)}`)
    const stored = await fs.readFile(path.join(server.blobRoot, "sha256", sha256(bytes)))
    expect(stored.equals(bytes)).toBe(true)
  })

  it("answers a retry with the same version id as replayed, and the next upload to the key is version 2", async () => {
    const ws = await server.workspace()
    const versionId = randomUUID()
    const params = { kind: "input", name: "notes.txt", versionId }
    const first = await upload(ws, params, "first")
    const retry = await upload(ws, params, "first")
    expect([first.status, retry.status]).toEqual([201, 200])
    expect(retry.body).toMatchObject({ replayed: true, version: { id: versionId, versionNo: 1 } })
    const second = await upload(ws, { kind: "input", name: "NOTES.txt" }, "second")
    expect(second.body.version).toMatchObject({ versionNo: 2, byteSize: 6 })
    expect(second.body.document.id).toBe(first.body.document.id)
  })

  it("answers bad input 400 naming the parameter, and stores nothing", async () => {
    const ws = await server.workspace()
    const before = await state()
    const cases: Array<[Record<string, string>, string]> = [
      [{ name: "a.txt" }, "kind"],
      [{ kind: "folder", name: "a.txt" }, "kind"],
      [{ kind: "input" }, "name"],
      [{ kind: "input", name: "   " }, "name"],
      [{ kind: "input", name: "a.txt", versionId: "not-a-uuid" }, "versionId"],
      [{ kind: "output", name: "a.csv", sourceDocumentId: "nope" }, "sourceDocumentId"]
    ]
    for (const [params, field] of cases) {
      const answer = await upload(ws, params, "bytes that must not be stored")
      expect({ params, status: answer.status, body: answer.body }).toMatchObject({
        status: 400,
        body: { _tag: "InvalidInput", field }
      })
    }
    expect(await state()).toEqual(before)
  })

  it("answers an upload past the upload limit 413, declared or streamed, and records nothing", async () => {
    const ws = await server.workspace()
    const before = await state()
    // Refused on its Content-Length, before a byte of the body is read (none is sent here).
    const declared = await rawUpload(ws, { "content-length": String(4 * 1024 * 1024 + 1) }, () => {})
    expect(declared.status).toBe(413)
    expect(JSON.parse(declared.body)).toMatchObject({ _tag: "PayloadTooLarge", maxBytes: 4 * 1024 * 1024 })
    // Chunked, no length: refused as the byte past the limit arrives (the body is never ended here).
    const streamed = await rawUpload(ws, {}, (request) => {
      for (let i = 0; i < 4; i++) request.write(randomBytes(1024 * 1024))
      request.write(Buffer.from("!"))
    })
    expect(streamed.status).toBe(413)
    expect((await state()).rows).toEqual(before.rows)
  })

  it("answers another workspace 404 and no token 401, storing nothing", async () => {
    const [mine, theirs] = [await server.workspace(), await server.workspace()]
    const before = await state()
    const foreign = await upload({ ...mine, workspaceId: theirs.workspaceId }, { kind: "input", name: "x.txt" }, "x")
    expect(foreign).toMatchObject({ status: 404, body: { _tag: "WorkspaceNotFound" } })
    const anonymous = await fetch(`${server.base}/v1/workspaces/${mine.workspaceId}/documents/upload?kind=input&name=x.txt`, {
      method: "POST",
      body: "x"
    })
    expect(anonymous.status).toBe(401)
    expect(await state()).toEqual(before)
  })
})

describe("download", () => {
  const stored = async () => {
    const ws = await server.workspace()
    const bytes = randomBytes(256 * 1024)
    const { body } = await upload(ws, { kind: "input", name: "Ledger 2026 (final).xlsx" }, bytes, {
      "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    })
    return { ws, bytes, documentId: body.document.id as string }
  }

  it("streams a version's bytes with its sha256 as ETag, its type and its name", async () => {
    const { bytes, documentId, ws } = await stored()
    const answer = await download(ws, documentId, 1)
    expect(answer.status).toBe(200)
    expect(Buffer.from(answer.bytes).equals(bytes)).toBe(true)
    expect(Object.fromEntries(answer.headers)).toMatchObject({
      etag: `"${sha256(bytes)}"`,
      "content-length": String(bytes.length),
      "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      "content-disposition": `attachment; filename="Ledger 2026 (final).xlsx"`,
      "accept-ranges": "bytes",
      "cache-control": "private, max-age=31536000, immutable"
    })
  })

  it("answers If-None-Match with the ETag 304, and another tag 200", async () => {
    const { bytes, documentId, ws } = await stored()
    const etag = `"${sha256(bytes)}"`
    expect((await download(ws, documentId, 1, { "if-none-match": etag })).status).toBe(304)
    expect((await download(ws, documentId, 1, { "if-none-match": `"other", W/${etag}` })).status).toBe(304)
    expect((await download(ws, documentId, 1, { "if-none-match": `"other"` })).status).toBe(200)
  })

  it("answers one range 206 with its bytes, and a range past the end 416 with the size", async () => {
    const { bytes, documentId, ws } = await stored()
    const part = await download(ws, documentId, 1, { range: "bytes=1000-1999" })
    expect(part.status).toBe(206)
    expect(part.headers.get("content-range")).toBe(`bytes 1000-1999/${bytes.length}`)
    expect(Buffer.from(part.bytes).equals(bytes.subarray(1000, 2000))).toBe(true)
    const suffix = await download(ws, documentId, 1, { range: "bytes=-10" })
    expect(Buffer.from(suffix.bytes).equals(bytes.subarray(bytes.length - 10))).toBe(true)
    const open = await download(ws, documentId, 1, { range: `bytes=${bytes.length - 5}-` })
    expect(Buffer.from(open.bytes).equals(bytes.subarray(bytes.length - 5))).toBe(true)

    const past = await download(ws, documentId, 1, { range: `bytes=${bytes.length}-` })
    expect(past.status).toBe(416)
    expect(past.headers.get("content-range")).toBe(`bytes */${bytes.length}`)
    expect(JSON.parse(Buffer.from(past.bytes).toString())).toMatchObject({ _tag: "RangeNotSatisfiable", size: bytes.length })
  })

  it("answers the whole for several ranges, a malformed one, or an If-Range of another version", async () => {
    const { bytes, documentId, ws } = await stored()
    for (const headers of [{ range: "bytes=0-9,100-109" }, { range: "pages=1-2" }, { range: "bytes=0-9", "if-range": `"stale"` }]) {
      const answer = await download(ws, documentId, 1, headers)
      expect({ headers, status: answer.status, length: answer.bytes.length }).toEqual({ headers, status: 200, length: bytes.length })
    }
    const current = await download(ws, documentId, 1, { range: "bytes=0-9", "if-range": `"${sha256(bytes)}"` })
    expect(current.status).toBe(206)
  })

  it("answers unknown documents and versions 404, another workspace's 404, no token 401", async () => {
    const { documentId, ws } = await stored()
    expect((await download(ws, randomUUID(), 1)).status).toBe(404)
    expect((await download(ws, documentId, 2)).status).toBe(404)
    const other = await server.workspace()
    const foreign = await fetch(contentUrl(ws, documentId, 1), { headers: { authorization: `Bearer ${other.token}` } })
    expect(foreign.status).toBe(404)
    expect((await fetch(contentUrl(ws, documentId, 1))).status).toBe(401)
    // Links in a page cannot send headers: the token may be a query parameter.
    expect((await fetch(`${contentUrl(ws, documentId, 1)}?access_token=${ws.token}`)).status).toBe(200)
  })

  it("cuts the response short when the stored bytes no longer hash to the version's sha256", async () => {
    const { bytes, documentId, ws } = await stored()
    const file = path.join(server.blobRoot, "sha256", sha256(bytes))
    const tampered = Buffer.from(bytes)
    tampered[tampered.length - 1] ^= 0xff
    await fs.chmod(file, 0o644)
    await fs.writeFile(file, tampered)
    const response = await fetch(contentUrl(ws, documentId, 1), { headers: { authorization: `Bearer ${ws.token}` } })
    expect(response.status).toBe(200)
    await expect(response.arrayBuffer()).rejects.toThrow()
  })
})
