import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
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

describe("the web example: the API and its page mounted in a backend's own server", () => {
  let server: ChildProcess
  let base: string
  let url: string
  let blobs: string
  let page: { workspaceId: string; token: string; address: string }
  let log = ""

  beforeAll(async () => {
    url = await createDatabase("web")
    blobs = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-web-blobs-"))
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    server = spawn(process.execPath, ["--import", "tsx", "examples/web/server.ts"], {
      env: { ...process.env, DATABASE_URL: url, PORT: String(port), DOCSTORE_BLOBS_DIR: blobs }
    })
    server.stdout!.on("data", (chunk) => (log += chunk))
    server.stderr!.on("data", (chunk) => (log += chunk))
    await until(() => /open (http:\S+)/.test(log), `the example's address (${log})`, 60_000)
    const address = /open (http:\S+)/.exec(log)![1]!
    const parsed = new URL(address)
    page = {
      address,
      workspaceId: parsed.searchParams.get("workspace")!,
      token: new URLSearchParams(parsed.hash.slice(1)).get("token")!
    }
  })

  afterAll(async () => {
    server?.kill()
    await fs.rm(blobs, { recursive: true, force: true })
  })

  const put = async (name: string) => {
    const response = await fetch(`${base}/v1/workspaces/${page.workspaceId}/documents/upload?kind=input&name=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${page.token}`, "content-type": "application/pdf" },
      body: `the bytes of ${name}`
    })
    expect(response.status).toBe(201)
    return (await response.json()) as { document: { id: string } }
  }

  it("serves the API, its reference and the page, all behind the token but the page", async () => {
    expect((await fetch(`${base}/v1/workspaces/${page.workspaceId}/documents`)).status).toBe(401)
    const listed = await fetch(`${base}/v1/workspaces/${page.workspaceId}/documents`, { headers: { authorization: `Bearer ${page.token}` } })
    expect(listed.status).toBe(200)
    expect((await fetch(`${base}/docs`)).headers.get("content-type")).toMatch(/text\/html/)
    expect(await (await fetch(`${base}/`)).text()).toContain("<title>docstore</title>")
  })

  it("shows the workspace in Chromium, updates it live, uploads and downloads, and refetches after a reset", async () => {
    await put("Contract.pdf")
    await put("Invoice.pdf")
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
      const tab = await (await browser.newContext({ acceptDownloads: true })).newPage()
      await tab.goto(page.address)
      const names = () => tab.locator("tbody tr td:first-child").allTextContents()
      await until(async () => (await names()).length === 2, "the listing")
      expect((await names()).sort()).toEqual(["Contract.pdf", "Invoice.pdf"])
      await until(async () => (await tab.locator("#status").getAttribute("data-state")) === "live", "live")
      // A marker a reload would erase.
      await tab.evaluate(() => ((globalThis as any).marker = "not reloaded"))

      await put("Offer.pdf")
      await until(async () => (await names()).includes("Offer.pdf"), "the upload from outside to appear")
      await put("offer.PDF")
      await until(async () => (await tab.locator("tr.fresh td:nth-child(3)").allTextContents()).includes("2"), "version 2")

      // An upload from the page arrives as a change, with a download link per version.
      const bytes = randomBytes(100_000)
      await tab.setInputFiles("#file", { name: "Photo.png", mimeType: "image/png", buffer: bytes })
      await tab.click("#upload")
      await until(async () => (await names()).includes("Photo.png"), "the page's upload")
      const row = tab.locator("tr", { hasText: "Photo.png" })
      const [download] = await Promise.all([tab.waitForEvent("download"), row.locator("a", { hasText: "v1" }).click()])
      expect(download.suggestedFilename()).toBe("Photo.png")
      expect((await fs.readFile(await download.path())).equals(bytes)).toBe(true)
      const offer = tab.locator("tr", { hasText: "Offer.pdf" })
      expect(await offer.locator("td.versions a").allTextContents()).toEqual(["v1", "v2"])
      const [second] = await Promise.all([tab.waitForEvent("download"), offer.locator("a", { hasText: "v2" }).click()])
      expect(await fs.readFile(await second.path(), "utf8")).toBe("the bytes of offer.PDF")

      // Forced reset: a new feed epoch expires the page's cursor; its stream says so with the next change.
      await withClient(url, (client) => client.query(`UPDATE document_feed SET epoch = gen_random_uuid()`))
      await put("After reset.pdf")
      await until(async () => (await tab.locator("#status").getAttribute("data-resets")) === "1", "the reset")
      await until(async () => (await names()).length === 5, "the refetched listing")
      expect((await names()).sort()).toEqual(["After reset.pdf", "Contract.pdf", "Invoice.pdf", "Offer.pdf", "Photo.png"])
      expect(await tab.evaluate(() => (globalThis as any).marker)).toBe("not reloaded")
      // And it is live again after the reset.
      await put("Later.pdf")
      await until(async () => (await names()).includes("Later.pdf"), "a change after the reset")

      await fs.mkdir("test-artifacts", { recursive: true })
      await tab.screenshot({ path: "test-artifacts/web-example.png", fullPage: true })
    } finally {
      await browser.close()
    }
  })
})
