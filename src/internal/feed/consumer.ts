/**
 * Durable consumers: a named consumer processes the feed in batches, keeps
 * its checkpoint in `document_consumers`, advanced only after its handler
 * succeeded, and holds a lease so that two processes never both advance it.
 */
import { randomUUID } from "node:crypto"
import type { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { ConsumeRequest, StreamRequest } from "../../DocumentChanges.js"
import { CursorExpired, DatabaseError, FeedDiverged, InvalidCursor, InvalidInput, LeaseLost } from "../../Errors.js"
import type { FeedEvent } from "../../FeedEvent.js"
import * as Cursor from "../cursor.js"
import { pgCode } from "../sqlError.js"
import { persistently, type Reader, resolveStart, retrySchedule, workspaceRequired } from "./reader.js"

type Feed = (request: StreamRequest) => Stream.Stream<FeedEvent, InvalidInput | InvalidCursor | CursorExpired | FeedDiverged>

// A read-only server (a standby) cannot take a consumer's checkpoints: waiting for it would never end.
// Marked, so that `consume` stops on this error and not on a handler's own DatabaseError.
const readOnlyServer = new WeakSet<DatabaseError>()
const onPrimary = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | DatabaseError, R> =>
  Effect.catchIf(
    effect,
    (error) => error instanceof SqlError && pgCode(error).code === "25006",
    () => {
      const error = new DatabaseError({
        message: "durable consumers store their checkpoints, and this server is read-only (a standby?): " +
          "run consumers against the primary"
      })
      readOnlyServer.add(error)
      return Effect.fail(error)
    }
  )

const quarterOf = (lease: Duration.Duration) => Duration.divide(lease, 4).pipe(Option.getOrElse(() => lease))
const thirdOf = (lease: Duration.Duration) => Duration.divide(lease, 3).pipe(Option.getOrElse(() => lease))

/** The statements on one consumer's row, as the holder `owner` of its lease. */
const leaseStatements = (sql: SqlClient.SqlClient, name: string, owner: string, leaseSeconds: number) => {
  const lost = () => new LeaseLost({ consumer: name, message: `the lease of consumer ${name} was taken over` })
  const heldByUs = (rows: ReadonlyArray<unknown>) => rows.length === 1 ? Effect.void : Effect.fail(lost())
  return {
    /** Takes the lease when it is free or expired, returning the stored cursor; fails with "held" otherwise. */
    acquire: (initial: string) =>
      sql<{ cursor: string }>`
        INSERT INTO document_consumers (name, cursor, owner, lease_until)
        VALUES (${name}, ${initial}, ${owner}, now() + make_interval(secs => ${leaseSeconds}))
        ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
        WHERE document_consumers.owner IS NULL OR document_consumers.owner = EXCLUDED.owner
           OR document_consumers.lease_until < now()
        RETURNING cursor`.pipe(
        Effect.flatMap(([row]) => row ? Effect.succeed(row.cursor) : Effect.fail("held" as const))
      ),
    renew: sql`
      UPDATE document_consumers SET lease_until = now() + make_interval(secs => ${leaseSeconds})
      WHERE name = ${name} AND owner = ${owner} AND lease_until > now()
      RETURNING 1`.pipe(Effect.flatMap(heldByUs)),
    checkpoint: (cursor: string) =>
      sql`
        UPDATE document_consumers
        SET cursor = ${cursor}, updated_at = now(), lease_until = now() + make_interval(secs => ${leaseSeconds})
        WHERE name = ${name} AND owner = ${owner} AND lease_until > now()
        RETURNING 1`.pipe(Effect.flatMap(heldByUs)),
    release: sql`
      UPDATE document_consumers SET owner = NULL, lease_until = NULL
      WHERE name = ${name} AND owner = ${owner}`.pipe(Effect.ignore)
  }
}

const stopsConsumer = (error: unknown) =>
  error instanceof InvalidCursor || error instanceof CursorExpired || error instanceof FeedDiverged ||
  error instanceof LeaseLost ||
  (error instanceof DatabaseError && readOnlyServer.has(error))

export const consume = (reader: Reader, feed: Feed, isolated: boolean) => <E, R>(request: ConsumeRequest<E, R>) =>
  Effect.gen(function*() {
    if (request.name.trim() === "") return yield* new InvalidInput({ field: "name", message: "must not be empty" })
    if (isolated && request.workspaceId === undefined) return yield* workspaceRequired()
    const lease = Duration.decode(request.leaseDuration ?? Duration.seconds(10))
    const maxBatch = request.maxBatch ?? 100
    const statements = leaseStatements(reader.sql, request.name, randomUUID(), Duration.toMillis(lease) / 1000)
    const initial = Cursor.encode(yield* resolveStart(reader)(request.startFrom ?? "beginning"))
    const acquire = statements.acquire(initial).pipe(
      Effect.tapError(() => Effect.logDebug(`consumer ${request.name} is held by another process; waiting`)),
      Effect.retry({ while: (error) => error === "held", schedule: Schedule.spaced(quarterOf(lease)) })
    )

    const run = Effect.gen(function*() {
      let stored = yield* persistently(onPrimary(acquire))
      return yield* feed({ from: stored, workspaceId: request.workspaceId, kind: request.kind }).pipe(
        Stream.groupedWithin(maxBatch, Duration.millis(50)),
        Stream.mapEffect((batch) => {
          const events = Chunk.toReadonlyArray(batch)
          const changes = events.flatMap((event) => event._tag === "Change" ? [event.change] : [])
          // The signals' cursors move the checkpoint too: a filtered consumer whose last own change is
          // old stays above the retention horizon while it is caught up (else its next start expires).
          const cursor = events[events.length - 1]!.cursor
          const save = cursor === stored
            ? Effect.void
            : Effect.tap(persistently(statements.checkpoint(cursor)), () => Effect.sync(() => (stored = cursor)))
          return changes.length === 0 ? save : Effect.zipRight(request.handler(changes), save)
        }),
        Stream.runDrain,
        // The lease is renewed while the stream runs; losing it stops the stream.
        Effect.raceFirst(
          persistently(statements.renew).pipe(Effect.repeat(Schedule.spaced(thirdOf(lease))), Effect.zipRight(Effect.never))
        )
      )
      // Also when interrupted while acquiring: the INSERT may have taken the lease already.
    }).pipe(Effect.ensuring(statements.release))
    // A failing handler: start again from the last checkpoint, with backoff.
    return yield* run.pipe(
      Effect.retry({ schedule: retrySchedule, while: (error) => !stopsConsumer(error) }),
      Effect.zipRight(Effect.never)
    ) as Effect.Effect<never, InvalidCursor | CursorExpired | FeedDiverged | LeaseLost | DatabaseError, R>
  })
