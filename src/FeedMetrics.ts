/**
 * The change feed's Effect `Metric`s. Effect's metrics are exported by
 * whatever the program installs: with `@effect/opentelemetry`'s
 * `NodeSdk.layer({ metricReader })` they reach an OpenTelemetry collector
 * under these names (docs/change-feed.md, "Health and metrics").
 *
 * `deliveredChanges` counts as streams deliver; the gauges are set by
 * `FeedHealth.health`, so run `FeedHealth.monitor` to keep them current.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/**
 * Changes delivered by this process's streams (durable consumers included), all filters together.
 *
 * @since 0.1.0
 */
export const deliveredChanges = Metric.counter("docstore_feed_delivered_changes", {
  description: "Changes delivered by the change feed's streams in this process",
  incremental: true
})

/**
 * Per durable consumer (tag `consumer`): deliverable changes after its checkpoint.
 *
 * @since 0.1.0
 */
export const consumerLagChanges = Metric.gauge("docstore_feed_consumer_lag_changes", {
  description: "Changes below the feed's horizon that a durable consumer has not checkpointed yet"
})

/**
 * Per durable consumer (tag `consumer`): age of the oldest change it has not checkpointed, 0 when none.
 *
 * @since 0.1.0
 */
export const consumerLagSeconds = Metric.gauge("docstore_feed_consumer_lag_seconds", {
  description: "Age in seconds of the oldest change a durable consumer has not checkpointed yet"
})

/**
 * Age of the oldest open transaction that holds the feed's horizon back, 0 when none.
 *
 * @since 0.1.0
 */
export const stallSeconds = Metric.gauge("docstore_feed_stall_seconds", {
  description: "Age in seconds of the oldest transaction holding the change feed's horizon back"
})

/**
 * 1 while the feed guard's verdict is Diverged, else 0.
 *
 * @since 0.1.0
 */
export const diverged = Metric.gauge("docstore_feed_diverged", {
  description: "1 when the feed guard found the feed's positions ahead of the server's transaction counter"
})

/** Counts the changes among a stream's events (the stream's hook). */
export const delivered = (events: ReadonlyArray<{ readonly _tag: string }>): Effect.Effect<void> => {
  let changes = 0
  for (const event of events) if (event._tag === "Change") changes++
  return changes === 0 ? Effect.void : Metric.incrementBy(deliveredChanges, changes)
}
