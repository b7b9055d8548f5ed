import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { chromium } from "playwright-core"
import { createDatabase, withClient } from "./support/Database.js"

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })

const until = async (test: () => Promise<boolean> | boolean, what: string, ms = 30_000) => {
  const deadline = Date.now() + ms
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Reads Server-Sent Events until the `caught-up` event; returns the `change` events (id + data). */
const readUntilCaughtUp = async (url: string, headers: Record<string, string> = {}) => {
  const controller = new AbortController()
  const response = await fetch(url, { headers, signal: controller.signal })
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  const events: Array<{ event: string; id?: string; data: any }> = []
  let buffer = ""
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    buffer += decoder.decode(value, { stream: true })
    let end: number
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const fields = Object.fromEntries(
        block.split("\n").filter((line) => !line.startsWith(":")).map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)])
      )
      if (fields.event) events.push({ event: fields.event, id: fields.id, data: JSON.parse(fields.data) })
    }
    if (events.some((event) => event.event === "caught-up" || event.event === "reset")) break
  }
  controller.abort()
  return events
}

describe("the realtime web example", () => {
  let server: ChildProcess
  let base: string
  let url: string
  let log = ""

  beforeAll(async () => {
    url = await createDatabase("web")
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    server = spawn(path.resolve("node_modules/.bin/tsx"), ["examples/web/server.ts"], {
      env: { ...process.env, DATABASE_URL: url, PORT: String(port) }
    })
    server.stdout!.on("data", (chunk) => (log += chunk))
    server.stderr!.on("data", (chunk) => (log += chunk))
    await until(() => fetch(base).then((r) => r.ok, () => false), `the example server (${log})`, 60_000)
  })

  afterAll(() => {
    server?.kill()
  })

  const put = async (workspaceId: string, name: string) => {
    const response = await fetch(`${base}/api/workspaces/${workspaceId}/documents`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ kind: "input", name, version: { storageKey: `k/${randomUUID()}`, byteSize: 10 } })
    })
    expect(response.status).toBe(200)
    return (await response.json()) as { document: { id: string } }
  }

  it("resumes the SSE stream from Last-Event-ID with nothing lost or duplicated", async () => {
    const workspaceId = randomUUID()
    const { cursor } = (await (await fetch(`${base}/api/workspaces/${workspaceId}/documents`)).json()) as { cursor: string }
    for (let i = 0; i < 6; i++) await put(workspaceId, `doc-${i}.txt`)
    const all = (await readUntilCaughtUp(`${base}/api/workspaces/${workspaceId}/changes?cursor=${cursor}`))
      .filter((event) => event.event === "change")
    expect(all).toHaveLength(12)
    for (let i = 0; i < all.length; i++) {
      const rest = (await readUntilCaughtUp(`${base}/api/workspaces/${workspaceId}/changes`, { "last-event-id": all[i]!.id! }))
        .filter((event) => event.event === "change")
      expect(rest.map((event) => event.data.id)).toEqual(all.slice(i + 1).map((event) => event.data.id))
    }
    const reset = await readUntilCaughtUp(`${base}/api/workspaces/${workspaceId}/changes`, { "last-event-id": "tampered" })
    expect(reset.map((event) => event.event)).toEqual(["reset"])
  })

  it("shows the workspace in Chromium, updates it live, and refetches after a reset", async () => {
    const workspaceId = randomUUID()
    await put(workspaceId, "Contract.pdf")
    await put(workspaceId, "Invoice.pdf")
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    try {
      const page = await browser.newPage()
      await page.goto(`${base}/?workspace=${workspaceId}`)
      const names = () => page.locator("tbody tr td:first-child").allTextContents()
      await until(async () => (await names()).length === 2, "the listing")
      expect((await names()).sort()).toEqual(["Contract.pdf", "Invoice.pdf"])
      await until(async () => (await page.locator("#status").textContent())?.startsWith("live") ?? false, "live")
      // A marker a reload would erase.
      await page.evaluate(() => ((globalThis as any).marker = "not reloaded"))

      await put(workspaceId, "Offer.pdf")
      await until(async () => (await names()).includes("Offer.pdf"), "the put from outside to appear")
      await put(workspaceId, "offer.PDF")
      await until(async () => (await page.locator("tr.fresh td:nth-child(3)").allTextContents()).includes("2"), "version 2")

      // Forced reset: a new feed epoch expires the page's cursor; its stream sends `reset` with the next change.
      await withClient(url, (client) => client.query(`UPDATE document_feed SET epoch = gen_random_uuid()`))
      await put(workspaceId, "After reset.pdf")
      await until(async () => (await page.locator("#status").getAttribute("data-resets")) === "1", "the reset")
      await until(async () => (await names()).length === 4, "the refetched listing")
      expect((await names()).sort()).toEqual(["After reset.pdf", "Contract.pdf", "Invoice.pdf", "Offer.pdf"])
      expect(await page.evaluate(() => (globalThis as any).marker)).toBe("not reloaded")
      // And it is live again after the reset.
      await put(workspaceId, "Later.pdf")
      await until(async () => (await names()).includes("Later.pdf"), "a change after the reset")

      await fs.mkdir("test-artifacts", { recursive: true })
      await page.screenshot({ path: "test-artifacts/web-example.png", fullPage: true })
    } finally {
      await browser.close()
    }
  })
})
