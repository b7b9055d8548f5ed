/**
 * `GET /v1/workspaces/:workspaceId/changes`: the change feed over HTTP, in
 * three modes, all built on one `DocumentChanges.stream` per request (live
 * ones share the service's one poller):
 *
 * - catch-up (no `live`): the changes after the cursor, up to `limit`, as JSON
 *   lines; the next cursor in `Docstore-Cursor`. A full chunk lies wholly
 *   below the horizon, so the same request always gets the same answer (until
 *   pruned): it is marked immutable, with an `ETag`.
 * - `live=longpoll`: as catch-up, but when nothing follows the cursor, waits
 *   (up to `timeout`) for the first changes; `204` when none came.
 * - `live=sse`: server-sent events for as long as the client stays.
 */
import { createHash } from "node:crypto"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { FeedEvent, Stall } from "../../DocumentChanges.js"
import * as DocumentChanges from "../../DocumentChanges.js"
import { CursorExpired as ServiceCursorExpired, type FeedDiverged, InvalidCursor, InvalidInput } from "../../Errors.js"
import type { WorkspaceId } from "../../Ids.js"
import { type ChangesParams, CursorExpired } from "../../HttpApi.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Changes in one catch-up or long-poll answer unless `limit` says otherwise. */
  readonly defaultLimit: number
  /** How long a long-poll waits unless `timeout` says otherwise. */
  readonly longPollTimeout: Duration.Duration
  /** No long-poll waits longer (it must answer inside the request timeout). */
  readonly maxLongPollTimeout: Duration.Duration
}

/** Headers of the protocol (docs/http.md). */
export const headers = {
  cursor: "docstore-cursor",
  caughtUp: "docstore-caught-up",
  stall: "docstore-stall"
} as const

type Pull = Effect.Effect<
  Chunk.Chunk<FeedEvent>,
  Option.Option<InvalidInput | InvalidCursor | ServiceCursorExpired | FeedDiverged>
>

/**
 * A change as `HttpApi.ChangeJson` encodes it, written directly: encoding each change through the
 * schema took most of a catch-up's time. Every value is a UUID, a literal, digits, base64url or an
 * ISO date, so nothing needs escaping (test: HttpServer.changes.test.ts decodes lines with ChangeJson).
 */
export const changeLine = (event: Extract<FeedEvent, { _tag: "Change" }>): string => {
  const change = event.change
  return `{"cursor":"${event.cursor}","id":"${change.id}","txId":"${change.txId}",` +
    `"workspaceId":"${change.workspaceId}","documentId":"${change.documentId}","kind":"${change.kind}",` +
    `"op":"${change.op}","versionNo":${change.versionNo ?? "null"},"changedAt":"${change.changedAt.toISOString()}"}`
}

const stallText = (stall: Stall) =>
  `pid=${stall.pid}; age=${stall.ageSeconds.toFixed(0)}s; application=${JSON.stringify(stall.applicationName)}`

/** The feed's errors as the API answers them; a cursor that expired says where to refetch. */
const answerable = (workspaceId: WorkspaceId) => (error: InvalidInput | InvalidCursor | ServiceCursorExpired | FeedDiverged) =>
  error._tag === "CursorExpired"
    ? new CursorExpired({
      reason: error.reason,
      message: `${error.message}. Refetch: list the documents, take the listing's cursor, follow the changes from there`,
      refetch: `/v1/workspaces/${workspaceId}/documents`
    })
    : error

const pullOnce = (pull: Pull, workspaceId: WorkspaceId) =>
  Effect.mapError(pull, (error) =>
    Option.match(error, {
      // The feed never ends by itself.
      onNone: () => new InvalidInput({ field: "cursor", message: "the feed ended unexpectedly" }),
      onSome: answerable(workspaceId)
    }))

interface Collected {
  readonly lines: Array<string>
  cursor: string
  caughtUp: boolean
  stall: Stall | null
}

/** Catch-up and long-poll: reads until `limit` changes, or caught up (long-poll: until a change or the deadline). */
const collect = (pull: Pull, workspaceId: WorkspaceId, limit: number, wait: Option.Option<Duration.Duration>) =>
  Effect.gen(function*() {
    const collected: Collected = { lines: [], cursor: "", caughtUp: false, stall: null }
    const take = Effect.gen(function*() {
      while (collected.lines.length < limit) {
        const events = yield* pullOnce(pull, workspaceId)
        for (const event of events) {
          if (event._tag === "Change") {
            if (collected.lines.length === limit) break
            collected.lines.push(changeLine(event))
            collected.cursor = event.cursor
            continue
          }
          collected.cursor = event.cursor
          collected.stall = event.stall
          if (event._tag === "CaughtUp") collected.caughtUp = true
        }
        if (collected.caughtUp && (collected.lines.length > 0 || Option.isNone(wait))) return
      }
    })
    if (Option.isNone(wait)) yield* take
    else yield* take.pipe(Effect.timeoutOption(wait.value))
    return collected
  })

const sseEvent = (event: FeedEvent): string => {
  switch (event._tag) {
    case "Change":
      return `event: change\nid: ${event.cursor}\ndata: ${changeLine(event)}\n\n`
    case "CaughtUp":
      return `event: caught-up\nid: ${event.cursor}\ndata: ${JSON.stringify({ cursor: event.cursor, stall: event.stall })}\n\n` +
        (event.stall ? `event: stall\ndata: ${JSON.stringify(event.stall)}\n\n` : "")
    case "Heartbeat":
      return event.stall ? `event: stall\ndata: ${JSON.stringify(event.stall)}\n\n` : `: heartbeat\n\n`
  }
}

const encoder = new TextEncoder()

const sse = (first: Chunk.Chunk<FeedEvent>, pull: Pull, workspaceId: WorkspaceId) => {
  const rest = Stream.repeatEffectChunkOption(pull).pipe(
    // After the headers went out, an expiry is an event; the client refetches, then reconnects.
    Stream.catchAll((error) => {
      const answer = answerable(workspaceId)(error)
      const body = { ...answer, _tag: answer._tag, message: answer.message }
      return Stream.make(`event: error\ndata: ${JSON.stringify(body)}\n\n`)
    }),
    Stream.mapChunks((events) => Chunk.of(Chunk.join(Chunk.map(events, (e) => typeof e === "string" ? e : sseEvent(e)), "")))
  )
  const body = Stream.concat(Stream.make(`retry: 1000\n\n${Chunk.join(Chunk.map(first, sseEvent), "")}`), rest).pipe(
    Stream.map((text) => encoder.encode(text))
  )
  return HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
  })
}

const etagOf = (body: string) => `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`

const chunkResponse = (collected: Collected, limit: number, ifNoneMatch: string | undefined) => {
  const full = collected.lines.length === limit
  const base: Record<string, string> = {
    [headers.cursor]: collected.cursor,
    [headers.caughtUp]: String(collected.caughtUp && !full),
    ...(collected.stall ? { [headers.stall]: stallText(collected.stall) } : {})
  }
  if (collected.lines.length === 0) {
    return HttpServerResponse.empty({ status: 204, headers: { ...base, "cache-control": "no-store" } })
  }
  const body = collected.lines.join("\n") + "\n"
  if (!full) {
    return HttpServerResponse.text(body, {
      contentType: "application/x-ndjson",
      headers: { ...base, "cache-control": "no-store" }
    })
  }
  // Below the horizon nothing can be added to this range: any cache may keep it, per token (Vary).
  const etag = etagOf(body)
  const cacheable = { ...base, etag, "cache-control": "public, max-age=31536000, immutable", vary: "Authorization" }
  return ifNoneMatch === etag
    ? HttpServerResponse.empty({ status: 304, headers: cacheable })
    : HttpServerResponse.text(body, { contentType: "application/x-ndjson", headers: cacheable })
}

/**
 * The handler of the `changes` endpoint.
 *
 * @since 0.1.0
 */
export const handler = (options: Options) =>
  Effect.gen(function*() {
    const feed = yield* DocumentChanges.DocumentChanges
    return (request: {
      readonly workspaceId: WorkspaceId
      readonly params: ChangesParams
      readonly lastEventId: string | undefined
      readonly ifNoneMatch: string | undefined
    }): Effect.Effect<
      HttpServerResponse.HttpServerResponse,
      InvalidInput | InvalidCursor | CursorExpired | FeedDiverged,
      Scope.Scope
    > =>
      Effect.gen(function*() {
        const { params, workspaceId } = request
        // An EventSource reconnecting sends the id of the last event it saw: that is where it resumes.
        const from = (params.live === "sse" ? request.lastEventId : undefined) ?? params.cursor ?? "beginning"
        // In the request's scope: the subscription ends when the response does (or the client leaves).
        const pull: Pull = yield* Stream.toPull(feed.stream({ from, workspaceId, kind: params.kind }))
        if (params.live === "sse") {
          // The first batch before the headers: a bad or expired cursor is still a 400 or 409.
          return sse(yield* pullOnce(pull, workspaceId), pull, workspaceId)
        }
        const limit = params.limit ?? options.defaultLimit
        const wait = params.live === "longpoll"
          ? Option.some(Duration.min(
            params.timeout === undefined ? options.longPollTimeout : Duration.seconds(params.timeout),
            options.maxLongPollTimeout
          ))
          : Option.none()
        return chunkResponse(yield* collect(pull, workspaceId, limit, wait), limit, request.ifNoneMatch)
      })
  })
