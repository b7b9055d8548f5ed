/**
 * The HTTP API in tenant isolation mode: the server connects as a runtime
 * role bound by row-level security, and each request's statements run with
 * its token's workspace set (the services scope them). A listing that shows
 * the workspace's documents proves it: without the setting RLS shows none.
 */
import { randomBytes, randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { inject } from "vitest"
import * as Database from "../src/Database.js"
import * as Migrations from "../src/Migrations.js"
import * as TenantIsolation from "../src/TenantIsolation.js"
import { withClient } from "./support/Database.js"
import { getChanges } from "./support/feedClients.js"
import * as Http from "./support/httpServer.js"

const suffix = randomBytes(5).toString("hex")
const ownerRole = `docstore_http_owner_${suffix}`
const appRole = `docstore_http_app_${suffix}`
const database = `docstore_http_isolation_${suffix}`
const password = randomBytes(12).toString("hex")
const urlAs = (role: string) => {
  const url = new URL(inject("databaseUrl"))
  url.username = role
  url.password = password
  url.pathname = `/${database}`
  return url.toString()
}
const admin = <A>(body: Parameters<typeof withClient<A>>[1]) => withClient(inject("databaseUrl"), body)

let server: Http.Server
beforeAll(async () => {
  await admin(async (c) => {
    await c.query(`CREATE ROLE ${ownerRole} LOGIN PASSWORD '${password}'`)
    await c.query(`CREATE ROLE ${appRole} LOGIN PASSWORD '${password}' NOSUPERUSER NOBYPASSRLS`)
    await c.query(`CREATE DATABASE ${database} OWNER ${ownerRole} TEMPLATE template0`)
  })
  await Effect.runPromise(
    Effect.zipRight(Migrations.run(), TenantIsolation.grant(appRole)).pipe(
      Effect.provide(Database.layer({ url: Redacted.make(urlAs(ownerRole)) }))
    )
  )
  server = await Http.start({ isolated: { url: urlAs(appRole), ownerUrl: urlAs(ownerRole) }, feed: { pollInterval: "50 millis" } })
}, 60_000)

afterAll(async () => {
  await server?.close()
  await admin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await c.query(`DROP ROLE IF EXISTS ${appRole}`)
    await c.query(`DROP ROLE IF EXISTS ${ownerRole}`)
  })
}, 60_000)

describe("HTTP API under tenant isolation", () => {
  it("serves each token its own workspace through row-level security, and nothing of another's", async () => {
    const a = await server.workspace()
    const b = await server.workspace()
    const call = (ws: typeof a, path: string, init: RequestInit = {}) =>
      fetch(`${server.base}/v1/workspaces/${ws.workspaceId}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${ws.token}`, "content-type": "application/json" }
      })
    const body = JSON.stringify({ kind: "input", name: "shared.txt", version: { storageKey: `k/${randomUUID()}`, byteSize: 1 } })
    const written = (await (await call(a, "/documents", { method: "POST", body })).json()) as { document: { id: string } }
    expect((await call(b, "/documents", { method: "POST", body })).status).toBe(201)

    const listing = (await (await call(a, "/documents")).json()) as { documents: Array<{ id: string }>; cursor: string }
    expect(listing.documents.map((d) => d.id)).toEqual([written.document.id])
    expect((await call(a, `/documents/${written.document.id}/versions/1`)).status).toBe(200)
    expect((await call(b, `/documents/${written.document.id}`)).status).toBe(404)
    const changes = await getChanges(
      `${server.base}/v1/workspaces/${a.workspaceId}/changes?cursor=beginning`,
      { authorization: `Bearer ${a.token}` }
    )
    expect(changes.status).toBe(200)
    expect(new Set(changes.changes.map((c) => c.documentId))).toEqual(new Set([written.document.id]))
    // The runtime role itself, without a workspace set, sees nothing at all.
    const bare = await withClient(urlAs(appRole), (c) => c.query(`SELECT count(*)::int AS n FROM files`))
    expect(bare.rows[0].n).toBe(0)
  })
})
