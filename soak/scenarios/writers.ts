/**
 * The writers: `Documents.put` of new documents of every kind in several
 * workspaces, next versions of documents they wrote, writes to keys all of
 * them share, deletes, reads back through the library, listings. A write
 * that fails with `DatabaseError` is retried with the same version id until
 * it is settled (the idempotent retry tells whether it had applied). Also
 * the quiet workspace's writer, a write less often than the progress
 * deadline.
 */
import { randomUUID } from "node:crypto"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Documents from "../../src/Documents.js"
import {
  acknowledge,
  checkFirstWrite,
  checkReadBack,
  checkReadBackError,
  unexpectedDeleteError,
  unexpectedPutError
} from "../checks/writes.js"
import { checkFirstVersion, checkNextVersion, checkSharedVersion } from "../checks/versions.js"
import type { Runtime } from "../database.js"
import type { Harness } from "../harness.js"
import { pick, random } from "../random.js"

type RequestBase = Documents.PutRequest extends infer T ? T extends unknown ? Omit<T, "version"> : never : never

/** A document a writer created and writes the next versions of. */
interface Owned {
  readonly request: RequestBase
  readonly documentId: string
  readonly workspaceId: string
  versionNo: number
  readonly versions: Array<string>
  /** Another document's source: not deleted. */
  isSource: boolean
}

/** One writer fiber's documents and name counter. */
interface Writer {
  readonly index: number
  readonly run: Runtime
  readonly owned: Array<Owned>
  counter: number
}

export const versionInput = (name: string) => ({
  id: randomUUID(),
  storageKey: `soak/${name}/${randomUUID()}`,
  byteSize: Math.floor(Math.random() * 100_000),
  sha256: randomUUID().replaceAll("-", "").repeat(2)
})

/** A put, repeated with the same version id while it fails with DatabaseError: settled, or None. */
export const settledPut = (h: Harness, run: Runtime, label: string, request: Documents.PutRequest) =>
  Effect.gen(function*() {
    for (let attempt = 0;; attempt++) {
      if (attempt > 0) h.state.operations.add("put (retry of an unsettled write)")
      const outcome = yield* h.guard(label, run(Effect.flatMap(Documents.Documents, (d) => d.put(request))))
      if (Option.isNone(outcome)) return Option.none()
      const exit = outcome.value
      if (Exit.isSuccess(exit)) {
        checkFirstWrite(h, label, request.version.id, attempt, exit.value.replayed)
        return Option.some(exit.value)
      }
      const error = Cause.squash(exit.cause) as { _tag?: string; message?: string }
      if (error._tag !== "DatabaseError") {
        unexpectedPutError(h, label, attempt, error)
        return Option.none()
      }
      if (!h.state.running && attempt > 20) return Option.none()
      yield* Effect.sleep(Duration.millis(random(20, 200)))
    }
  })

const newDocument = (h: Harness, w: Writer) =>
  Effect.gen(function*() {
    const workspaceId = pick(h.settings.workspaces)
    const name = `w${w.index}-${w.counter++}`
    // An input that has no output yet: a second output of one input would be its next version.
    const sources = w.owned.filter((o) => o.workspaceId === workspaceId && o.request.kind === "input" && !o.isSource)
    const roll = Math.random()
    const request: RequestBase = roll < 0.4
      ? { kind: "input", workspaceId, name: `${name}.txt` }
      : roll < 0.55 && sources.length > 0
      ? { kind: "output", workspaceId, name: `${name}.csv`, sourceDocumentId: pick(sources).documentId }
      : roll < 0.7
      ? { kind: "output", workspaceId, name: `${name}.json`, runId: randomUUID() }
      : roll < 0.85
      ? { kind: "log", workspaceId, name: `${name}.log`, runId: randomUUID() }
      : { kind: "export", workspaceId, name: `${name}.zip`, exportJobId: randomUUID() }
    const version = versionInput(name)
    const written = yield* settledPut(h, w.run, `new ${request.kind}`, { ...request, version } as Documents.PutRequest)
    if (Option.isNone(written)) return
    h.state.operations.add(`put: new document (${request.kind})`)
    const { document, version: stored } = written.value
    checkFirstVersion(h, document.id, stored.versionNo)
    if (request.kind === "output" && "sourceDocumentId" in request) {
      w.owned.find((o) => o.documentId === request.sourceDocumentId)!.isSource = true
    }
    acknowledge(h, version.id, { workspaceId, documentId: document.id, versionNo: stored.versionNo })
    w.owned.push({ request, documentId: document.id, workspaceId, versionNo: stored.versionNo, versions: [version.id], isSource: false })
  })

const nextVersion = (h: Harness, w: Writer) =>
  Effect.gen(function*() {
    const doc = pick(w.owned)
    const version = versionInput(doc.documentId)
    const written = yield* settledPut(h, w.run, `next version of ${doc.request.kind}`, { ...doc.request, version } as Documents.PutRequest)
    if (Option.isNone(written)) return
    h.state.operations.add("put: next version")
    const { document, version: stored } = written.value
    checkNextVersion(h, doc, { documentId: document.id, versionNo: stored.versionNo })
    doc.versionNo = stored.versionNo
    doc.versions.push(version.id)
    acknowledge(h, version.id, { workspaceId: doc.workspaceId, documentId: document.id, versionNo: stored.versionNo })
  })

const sharedKey = (h: Harness, w: Writer) =>
  Effect.gen(function*() {
    const workspaceId = pick(h.settings.workspaces)
    const name = `Shared-${Math.floor(Math.random() * 3)}.TXT`
    const version = versionInput(name)
    const written = yield* settledPut(h, w.run, "shared key", { kind: "input", workspaceId, name, version })
    if (Option.isNone(written)) return
    h.state.operations.add("put: shared key")
    const { document, version: stored } = written.value
    checkSharedVersion(h, document.id, stored.versionNo, version.id)
    acknowledge(h, version.id, { workspaceId, documentId: document.id, versionNo: stored.versionNo })
  })

const remove = (h: Harness, w: Writer) =>
  Effect.gen(function*() {
    const candidates = w.owned.filter((o) => !o.isSource)
    if (candidates.length === 0) return
    const doc = pick(candidates)
    h.state.deleting.add(doc.documentId)
    w.owned.splice(w.owned.indexOf(doc), 1)
    for (let attempt = 0;; attempt++) {
      const outcome = yield* h.guard(
        "delete",
        w.run(Effect.flatMap(Documents.Documents, (d) => d.delete({ workspaceId: doc.workspaceId, documentId: doc.documentId })))
      )
      if (Option.isNone(outcome)) return
      if (Exit.isSuccess(outcome.value)) break
      const error = Cause.squash(outcome.value.cause) as { _tag?: string; message?: string }
      // A retry of a delete that had applied finds nothing: settled.
      if (error._tag === "DocumentNotFound" && attempt > 0) break
      if (error._tag !== "DatabaseError") {
        unexpectedDeleteError(h, doc.documentId, error)
        return
      }
      if (!h.state.running && attempt > 20) return
      yield* Effect.sleep(Duration.millis(random(20, 200)))
    }
    h.state.operations.add("delete")
  })

const readBack = (h: Harness, w: Writer) =>
  Effect.gen(function*() {
    const doc = pick(w.owned)
    const versionNo = 1 + Math.floor(Math.random() * doc.versionNo)
    const outcome = yield* h.guard(
      "read back",
      w.run(Effect.flatMap(Documents.Documents, (d) =>
        Effect.zip(
          d.get({ workspaceId: doc.workspaceId, documentId: doc.documentId }),
          d.version({ workspaceId: doc.workspaceId, documentId: doc.documentId, versionNo })
        )))
    )
    if (Option.isNone(outcome)) return
    const exit = outcome.value
    if (Exit.isFailure(exit)) {
      checkReadBackError(h, doc.documentId, versionNo, Cause.squash(exit.cause) as { _tag?: string; message?: string })
      return
    }
    h.state.operations.add("read back (get + version)")
    const [document, version] = exit.value
    checkReadBack(
      h,
      { documentId: doc.documentId, versionNo, versionId: doc.versions[versionNo - 1] },
      { documentId: document.id, versionId: version.id }
    )
  })

const listing = (h: Harness, w: Writer) =>
  Effect.gen(function*() {
    const outcome = yield* h.guard(
      "list",
      w.run(Effect.flatMap(Documents.Documents, (d) => d.list({ workspaceId: pick(h.settings.workspaces), limit: 50 })))
    )
    if (Option.isSome(outcome) && Exit.isSuccess(outcome.value)) h.state.operations.add("list")
  })

/** Writer `index` on runtime `run`, until the load stops. */
export const writer = (h: Harness, index: number, run: Runtime) => {
  const w: Writer = { index, run, owned: [], counter: 0 }
  return h.untilStopped(Effect.suspend(() => {
    const roll = Math.random()
    if (w.owned.length < 3 || roll < 0.3) return newDocument(h, w)
    if (roll < 0.6) return nextVersion(h, w)
    if (roll < 0.7) return sharedKey(h, w)
    if (roll < 0.78) return remove(h, w)
    if (roll < 0.93) return readBack(h, w)
    return listing(h, w)
  }))
}

/** Writes one input to `workspaceId` every 1.5 to 2 progress deadlines. */
export const quietWriter = (h: Harness, workspaceId: string) =>
  h.untilStopped(Effect.gen(function*() {
    yield* h.pause(random(1.5, 2) * h.settings.progressDeadline)
    if (!h.state.running) return
    const name = `quiet-${randomUUID()}.txt`
    const version = versionInput(name)
    const written = yield* settledPut(h, h.inA, "quiet workspace", { kind: "input", workspaceId, name, version })
    if (Option.isNone(written)) return
    h.state.operations.add("put: new document (input, quiet workspace)")
    acknowledge(h, version.id, { workspaceId, documentId: written.value.document.id, versionNo: 1 })
  }))
