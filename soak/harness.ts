/**
 * What every scenario and check is given: the settings, the shared state,
 * how to record a violation, the watchdog, the side connections and the
 * library runtimes. `makeHarness` connects and migrates.
 */
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type pg from "pg"
import * as Migrations from "../src/Migrations.js"
import { type Guard, guardOf } from "./checks/operations.js"
import { type Runtime, sideClient, sideQuery, type Store, storeLayer } from "./database.js"
import type { Settings } from "./options.js"
import { elapsed, type SoakState } from "./state.js"

export interface Harness {
  readonly settings: Settings
  readonly state: SoakState
  /** Counts a violation of `invariant`, keeps the first 50, logs the first 5 of each invariant. */
  readonly violation: (invariant: string, description: string) => void
  readonly guard: Guard
  /** Repeats `body` until the load stops. */
  readonly untilStopped: (body: Effect.Effect<void>) => Effect.Effect<void>
  /** Sleeps `ms`, or less once the load stops. */
  readonly pause: (ms: number) => Effect.Effect<void>
  readonly query: ReturnType<typeof sideQuery>
  /** Side connections: for the checks, for the samples of the log, for the faults. */
  readonly checker: pg.Pool
  readonly sampler: pg.Pool
  readonly faulter: pg.Pool
  /** The two library runtimes ("processes"); B connects through the network faults, if any. */
  readonly inA: Runtime
  readonly inB: Runtime
  /** The slow transactions' runtime: its connections are not among those the faults terminate. */
  readonly slow: Context.Context<Store>
}

export const makeHarness = (settings: Settings, state: SoakState) =>
  Effect.gen(function*() {
    const violation = (invariant: string, description: string) => {
      state.violationCount++
      state.byInvariant.add(invariant)
      const found = { invariant, description, at: Math.round(elapsed(state) * 10) / 10 }
      if (state.violations.length < 50) state.violations.push(found)
      if (state.byInvariant.counts[invariant]! <= 5) settings.log(`VIOLATION ${invariant} at ${found.at}s: ${description}`)
    }
    const untilStopped = (body: Effect.Effect<void>) =>
      Effect.gen(function*() {
        while (state.running) yield* body
      })
    const pause = (ms: number) =>
      Effect.gen(function*() {
        const until = Date.now() + ms
        while (state.running && Date.now() < until) yield* Effect.sleep(Duration.millis(Math.min(200, until - Date.now())))
      })

    const checker = yield* sideClient(settings.url, "checker")
    const sampler = yield* sideClient(settings.url, "sampler")
    const faulter = yield* sideClient(settings.url, "faults")
    const contextA = yield* Layer.build(storeLayer(settings.url, "effect-docstore soak-a")).pipe(Effect.orDie)
    const network = settings.network
    const contextB = yield* Layer.build(
      network
        ? storeLayer(network.url(settings.url), "effect-docstore soak-b", Duration.seconds(5))
        : storeLayer(settings.url, "effect-docstore soak-b")
    ).pipe(Effect.orDie)
    yield* Migrations.run().pipe(Effect.provide(contextA), Effect.orDie)
    const slow = yield* Layer.build(storeLayer(settings.url, "docstore-soak slow transactions")).pipe(Effect.orDie)
    const harness: Harness = {
      settings,
      state,
      violation,
      guard: guardOf(settings.operationTimeout, state, violation),
      untilStopped,
      pause,
      query: sideQuery(settings.operationTimeout),
      checker,
      sampler,
      faulter,
      inA: (effect) => Effect.provide(effect, contextA),
      inB: (effect) => Effect.provide(effect, contextB),
      slow
    }
    return harness
  })
