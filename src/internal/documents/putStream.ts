/**
 * `putStream`: an import of any size in one transaction, read in chunks, so
 * that the client holds a few chunks whatever the size. Each chunk is written
 * as one putMany (writeBatch) under a savepoint of its own; the next chunk is
 * read and decoded while the database writes this one.
 */
import { SqlClient } from "@effect/sql"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Streamed } from "../../Documents.js"
import { InvalidInput } from "../../Errors.js"
import type { Put } from "./keys.js"
import { oneWorkspace, optimistically, writeBatch } from "./putMany.js"
import { decodePut } from "./requests.js"
import type { Store } from "./store.js"

/** Writes per chunk: large enough that the statements per chunk cost little, small enough to hold a few. */
export const chunkSize = 10_000

interface Batch {
  readonly offset: number
  readonly requests: ReadonlyArray<Put>
}

// Decoding yields to the event loop every slice: Effect's scheduler would otherwise run the decode of a
// whole chunk before the writing fiber can take the answer to its statement.
const slice = 250
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

// Field names count from the stream's first write, as putMany's count from its first.
const decodeBatch = (raw: Chunk.Chunk<unknown>, offset: number) =>
  Effect.gen(function*() {
    const input = Chunk.toReadonlyArray(raw)
    const requests: Array<Put> = []
    for (let i = 0; i < input.length; i++) {
      if (i > 0 && i % slice === 0) yield* nextTurn
      const decoded = decodePut(input[i])
      if (Either.isLeft(decoded)) {
        const { field, message } = decoded.left
        return yield* new InvalidInput({ field: field === "input" ? `${offset + i}` : `${offset + i}.${field}`, message })
      }
      requests.push(decoded.right)
    }
    return { offset, requests } satisfies Batch
  })

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
const writeChunk = (store: Store, { offset, requests }: Batch) =>
  optimistically((lookForReplays) => store.sql.withTransaction(writeBatch(store, requests, offset, lookForReplays)))

export const putStream = (store: Store) => <E, R>(stream: Stream.Stream<unknown, E, R>) =>
  Effect.scoped(Effect.gen(function*() {
    const pull = yield* Stream.toPull(Stream.grouped(stream, chunkSize))
    const pulled: Array<Chunk.Chunk<unknown>> = []
    let offset = 0
    // The next chunk, decoded, or none at the end of the stream; read outside the transaction (a stream
    // that reads the database does so on a connection of its own).
    const next: Effect.Effect<Option.Option<Batch>, E | InvalidInput, R> = Effect.suspend(() => {
      const raw = pulled.shift()
      if (raw !== undefined) {
        offset += raw.length
        return Effect.asSome(decodeBatch(raw, offset - raw.length))
      }
      return pull.pipe(
        Effect.catchAll(Option.match({ onNone: () => Effect.succeed(Chunk.empty()), onSome: Effect.fail })),
        Effect.flatMap((chunks) => {
          if (Chunk.isEmpty(chunks)) return Effect.succeedNone
          pulled.push(...chunks)
          return next
        })
      )
    }).pipe(Effect.mapInputContext((context: Context.Context<R>) => Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<R>))
    const first = yield* next
    if (Option.isNone(first)) return { written: 0, replayed: 0 } satisfies Streamed
    // Under isolation the transaction sees the first write's workspace, and the stream writes to it alone.
    const workspaceId = first.value.requests[0]!.workspaceId
    const sameWorkspace = (batch: Batch) =>
      store.isolation.enabled ? oneWorkspace(batch.requests, workspaceId, batch.offset, "putStream") : Effect.void
    const streamed = yield* Effect.gen(function*() {
      const ids = idsOnce(store)
      const summary = { written: 0, replayed: 0 }
      for (let batch: Option.Option<Batch> = first; Option.isSome(batch);) {
        // The next chunk is read and decoded while the database writes this one. The fork runs once this
        // fiber waits for its first statement: started later, it would hold back the writes (one thread).
        const ahead = yield* Effect.fork(next)
        yield* sameWorkspace(batch.value)
        yield* ids.check(batch.value)
        for (const imported of yield* writeChunk(store, batch.value)) summary[imported.replayed ? "replayed" : "written"]++
        batch = yield* Fiber.join(ahead)
      }
      yield* ids.drop
      return summary satisfies Streamed
    }).pipe(store.isolation.transaction(workspaceId))
    if (streamed.written > 0) yield* store.wakeup.notify
    return streamed
  }))
