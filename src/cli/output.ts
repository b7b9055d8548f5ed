import type { Change } from "../Change.js"
import type { Document } from "../Document.js"
import type { Stall } from "../FeedEvent.js"
import type { Version } from "../Version.js"

/** Aligned columns for people; the caller prints the lines. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)).join("  ")
  return [line(header), ...rows.map(line)]
}

/** One JSON object a line: bigints as strings, dates as ISO strings. */
export const jsonLine = (value: unknown): string =>
  JSON.stringify(value, (_, item) => typeof item === "bigint" ? item.toString() : item)

const iso = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z")

export const documentRecord = (document: Document) => ({
  id: document.id,
  workspaceId: document.workspaceId,
  kind: document.kind,
  name: document.name,
  nameKey: document.nameKey,
  sourceDocumentId: document.sourceDocumentId,
  runId: document.runId,
  createdAt: document.createdAt.toISOString(),
  updatedAt: document.updatedAt.toISOString()
})

export const versionRecord = (version: Version) => ({
  id: version.id,
  documentId: version.documentId,
  versionNo: version.versionNo,
  storageKey: version.storageKey,
  storageVersionId: version.storageVersionId,
  contentType: version.contentType,
  byteSize: version.byteSize,
  sha256: version.sha256,
  createdAt: version.createdAt.toISOString()
})

export const changeRecord = (change: Change, cursor: string) => ({
  type: "change",
  cursor,
  id: change.id,
  txId: change.txId,
  workspaceId: change.workspaceId,
  documentId: change.documentId,
  kind: change.kind,
  op: change.op,
  versionNo: change.versionNo,
  changedAt: change.changedAt.toISOString()
})

export const documentRows = (documents: ReadonlyArray<Document>) =>
  table(
    ["ID", "KIND", "UPDATED", "NAME"],
    documents.map((d) => [d.id, d.kind, iso(d.updatedAt), JSON.stringify(d.name).slice(1, -1)])
  )

export const versionRows = (versions: ReadonlyArray<Version>) =>
  table(
    ["VERSION", "SIZE", "CONTENT TYPE", "CREATED", "SHA256", "STORAGE KEY"],
    versions.map((v) => [
      String(v.versionNo),
      String(v.byteSize),
      v.contentType ?? "-",
      iso(v.createdAt),
      v.sha256 ? `${v.sha256.slice(0, 12)}…` : "-",
      v.storageKey
    ])
  )

export const changeLine = (change: Change) =>
  [
    iso(change.changedAt),
    change.op.padEnd(13),
    change.kind.padEnd(6),
    change.documentId,
    change.versionNo === null ? "" : `v${change.versionNo}`
  ].join("  ").trimEnd()

export const stallText = (stall: Stall) =>
  `delivery is held back by transaction of backend ${stall.pid}` +
  `${stall.applicationName ? ` (${stall.applicationName})` : ""}, open for ${stall.ageSeconds.toFixed(0)} s`
