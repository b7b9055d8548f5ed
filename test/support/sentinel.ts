import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { FeedEvent } from "../../src/FeedEvent.js"

/**
 * Ends a feed stream after the version_added (a document's last change) of the document `sentinel()`
 * names. The writer learns that id only when its put returns, and the feed may deliver the change before
 * then; so the check looks back over every document finished so far and runs on every event: the first
 * change or heartbeat after the naming ends the stream.
 */
export const untilSentinel = (sentinel: () => string | undefined) =>
<E, R>(stream: Stream.Stream<FeedEvent, E, R>): Stream.Stream<FeedEvent, E, R> =>
  Stream.suspend(() => {
    const finished = new Set<string>()
    return stream.pipe(
      Stream.tap((event) =>
        Effect.sync(() => {
          if (event._tag === "Change" && event.change.op === "version_added") finished.add(event.change.documentId)
        })
      ),
      Stream.takeUntil(() => {
        const id = sentinel()
        return id !== undefined && finished.has(id)
      })
    )
  })
