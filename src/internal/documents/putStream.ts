/**
 * `putStream`: an import of any size in one transaction, read in chunks, so
 * that the client holds a few chunks whatever the size. Each chunk is written
 * as one putMany (writeBatch) under a savepoint of its own; the next chunk is
 * decoded while the database writes this one.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Streamed } from "../../Documents.js"
import { InvalidInput } from "../../Errors.js"
import { decodeInput } from "../validation.js"
import type { Put } from "./keys.js"
import { oneWorkspace, writeBatch } from "./putMany.js"
import { raceOnVersionId, versionIdTaken } from "./replay.js"
import { PutRequest } from "./requests.js"
import type { Store } from "./store.js"

/** Writes per chunk: large enough that the statements per chunk cost little, small enough to hold a few. */
export const chunkSize = 10_000

interface Batch {
  readonly offset: number
  readonly requests: ReadonlyArray<Put>
}

const decodeRequest = decodeInput(PutRequest)

// Field names count from the stream's first write, as putMany's count from its first.
const decodeBatch = (raw: Chunk.Chunk<unknown>, offset: number) =>
  Effect.forEach(raw, (request, i) =>
    Effect.mapError(decodeRequest(request), (error) =>
      new InvalidInput({
        field: error.field === "input" ? `${offset + i}` : `${offset + i}.${error.field}`,
        message: error.message
      })))
    .pipe(Effect.map((requests): Batch => ({ offset, requests })))

/**
 * A version id may appear once in a stream, as in one putMany. The ids of the chunks written so far are
 * kept by the server, in a temporary table of the transaction.
 */
const idsOnce = (store: Store) => {
  let created = false
  const check = ({ offset, requests }: Batch) =>
    Effect.gen(function*() {
      const ids: Array<string> = []
      const ords: Array<number> = []
      requests.forEach((request, i) => {
        if (request.version.id === undefined) return
        ids.push(request.version.id)
        ords.push(offset + i)
      })
      if (ids.length === 0) return
      if (!created) {
        yield* store.sql`CREATE TEMP TABLE docstore_stream_ids (id uuid PRIMARY KEY, ord bigint)`
        created = true
      }
      // The main query's snapshot does not see the rows its INSERT adds: it finds the earlier chunks' ids.
      const [repeat] = yield* store.sql<{ readonly ord: string | null }>`
        WITH given AS (SELECT * FROM unnest(${ids}::uuid[], ${ords}::bigint[]) AS given (id, ord)),
        remembered AS (INSERT INTO docstore_stream_ids SELECT * FROM given ON CONFLICT (id) DO NOTHING)
        SELECT min(given.ord) AS ord FROM given JOIN docstore_stream_ids USING (id)`
      if (repeat!.ord === null) return
      return yield* new InvalidInput({ field: `${repeat.ord}.version.id`, message: "is repeated within the request" })
    })
  const drop = Effect.suspend(() => created ? Effect.asVoid(store.sql`DROP TABLE docstore_stream_ids`) : Effect.void)
  return { check, drop }
}

/**
 * As putMany: the first try of a chunk does not look for earlier writes of its ids, and a taken id rolls
 * back its savepoint (the chunks before it stay); the second looks for them, and replays or conflicts.
 */
const writeChunk = (store: Store, { offset, requests }: Batch) => {
  const attempt = (lookForReplays: boolean) => store.sql.withTransaction(writeBatch(store, requests, offset, lookForReplays))
  return attempt(false).pipe(Effect.catchIf(versionIdTaken, () => raceOnVersionId(attempt(true), null)))
}

export const putStream = (store: Store) => <E, R>(stream: Stream.Stream<unknown, E, R>) =>
  Effect.scoped(Effect.gen(function*() {
    const pull = yield* Stream.toPull(
      stream.pipe(
        Stream.grouped(chunkSize),
        Stream.zipWithIndex,
        Stream.mapEffect(([raw, n]) => decodeBatch(raw, n * chunkSize)),
        // Decoding runs ahead by a chunk, in its own fiber, while the database writes.
        Stream.buffer({ capacity: 1 })
      )
    )
    const pulled: Array<Batch> = []
    const pullMore: Effect.Effect<Option.Option<Chunk.Chunk<Batch>>, E | InvalidInput, R> = pull.pipe(
      Effect.map(Option.some),
      Effect.catchAll(Option.match({ onNone: () => Effect.succeedNone, onSome: Effect.fail }))
    )
    // The next chunk, or none at the end of the stream.
    const next: Effect.Effect<Option.Option<Batch>, E | InvalidInput, R> = Effect.suspend(() =>
      pulled.length > 0 ? Effect.succeedSome(pulled.shift()!) : Effect.flatMap(pullMore, Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (batches) => {
          pulled.push(...batches)
          return next
        }
      }))
    )
    const first = yield* next
    if (Option.isNone(first)) return { written: 0, replayed: 0 } satisfies Streamed
    // Under isolation the transaction sees the first write's workspace, and the stream writes to it alone.
    const workspaceId = first.value.requests[0]!.workspaceId
    const sameWorkspace = (batch: Batch) =>
      store.isolation.enabled ? oneWorkspace(batch.requests, workspaceId, batch.offset, "putStream") : Effect.void
    const streamed = yield* Effect.gen(function*() {
      const ids = idsOnce(store)
      const summary = { written: 0, replayed: 0 }
      for (let batch: Option.Option<Batch> = first; Option.isSome(batch); batch = yield* next) {
        yield* sameWorkspace(batch.value)
        yield* ids.check(batch.value)
        for (const imported of yield* writeChunk(store, batch.value)) summary[imported.replayed ? "replayed" : "written"]++
      }
      yield* ids.drop
      return summary satisfies Streamed
    }).pipe(store.isolation.transaction(workspaceId))
    if (streamed.written > 0) yield* store.wakeup.notify
    return streamed
  }))
