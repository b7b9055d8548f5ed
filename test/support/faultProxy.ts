/**
 * A TCP proxy between the library and PostgreSQL that injects network faults:
 *
 * - latency, per direction;
 * - a cut: every open connection is reset at once (the client reads ECONNRESET);
 * - a stall: nothing is forwarded any more, in either direction, and nothing
 *   is reset either: the sockets stay open, as behind a dead router. New
 *   connections are accepted and stall too. `resume` delivers what was held,
 *   in order (closes included), as TCP would after the network heals;
 * - triggers: act when a given text passes in a given direction (a statement
 *   on its way to the server, a server's answer on its way back), before that
 *   chunk is forwarded. This lands a fault at an exact point of a protocol
 *   exchange without timing guesses.
 *
 * One proxy serves every database of the run's server: `url` rewrites a
 * database URL (same credentials and database) to go through it.
 */
import * as net from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** `toServer`: from the library to PostgreSQL; `toClient`: the answers. */
export type Direction = "toServer" | "toClient"

/** What a trigger does when its text passes. `none` only reports it. */
export type Action = "cut" | "stall" | "none"

export interface Trigger {
  readonly direction: Direction
  /** Matched against each chunk as latin1 text (SQL and command tags are plain ASCII). */
  readonly contains: string
  readonly action: Action
}

export interface Stats {
  /** Connections accepted since the proxy started. */
  readonly accepted: number
  /** Connections open now. */
  readonly open: number
  /** Connections the client side closed (a client that gave up on a stalled connection closes it). */
  readonly closedByClient: number
}

export interface FaultProxy {
  readonly port: number
  /** The same URL (credentials, database, parameters) through the proxy. */
  readonly url: (databaseUrl: string) => string
  /** Delay added to every chunk in the given direction(s); 0 removes it. */
  readonly setLatency: (millis: number, direction?: Direction | "both") => void
  /** Resets every open connection; later connections are accepted as usual. */
  readonly cut: () => void
  readonly stall: () => void
  readonly resume: () => void
  readonly stats: () => Stats
  /** Arms a one-shot trigger; resolves when it fired (its action already applied). */
  readonly when: (trigger: Trigger) => Promise<void>
  /** Resolves when the client side next closes a connection. */
  readonly nextClientClose: () => Promise<void>
  readonly close: () => Promise<void>
}

type Item =
  | { readonly _tag: "data"; readonly chunk: Buffer; readonly due: number }
  | { readonly _tag: "end"; readonly due: number }
  | { readonly _tag: "destroy"; readonly due: number }

interface Lane {
  readonly from: net.Socket
  readonly to: net.Socket
  readonly direction: Direction
  readonly queue: Array<Item>
  timer: NodeJS.Timeout | undefined
}

interface Pair {
  readonly client: net.Socket
  readonly server: net.Socket
  readonly lanes: readonly [Lane, Lane]
}

/** Starts a proxy in front of the server of `targetUrl` (its host and port). */
export const start = async (targetUrl: string): Promise<FaultProxy> => {
  const target = new URL(targetUrl)
  const targetHost = target.hostname
  const targetPort = Number(target.port || 5432)
  const latency: Record<Direction, number> = { toServer: 0, toClient: 0 }
  const pairs = new Set<Pair>()
  let triggers: Array<{ readonly trigger: Trigger; readonly fired: () => void }> = []
  let clientCloseWaiters: Array<() => void> = []
  let stalled = false
  let accepted = 0
  let closedByClient = 0

  const pump = (lane: Lane) => {
    if (lane.timer !== undefined) {
      clearTimeout(lane.timer)
      lane.timer = undefined
    }
    if (stalled) return
    const now = Date.now()
    while (lane.queue.length > 0) {
      const item = lane.queue[0]!
      if (item.due > now) {
        lane.timer = setTimeout(() => pump(lane), item.due - now)
        return
      }
      lane.queue.shift()
      if (lane.to.destroyed) continue
      if (item._tag === "data") lane.to.write(item.chunk)
      else if (item._tag === "end") lane.to.end()
      else lane.to.resetAndDestroy()
    }
  }

  const enqueue = (lane: Lane, item: { readonly _tag: "data"; readonly chunk: Buffer } | { readonly _tag: "end" | "destroy" }) => {
    const last = lane.queue.at(-1)?.due ?? 0
    lane.queue.push({ ...item, due: Math.max(Date.now() + latency[lane.direction], last) } as Item)
    pump(lane)
  }

  const cutPair = (pair: Pair) => {
    for (const lane of pair.lanes) {
      lane.queue.length = 0
      if (lane.timer !== undefined) clearTimeout(lane.timer)
    }
    if (!pair.client.destroyed) pair.client.resetAndDestroy()
    if (!pair.server.destroyed) pair.server.resetAndDestroy()
    pairs.delete(pair)
  }

  const cut = () => {
    for (const pair of [...pairs]) cutPair(pair)
  }

  const stall = () => {
    stalled = true
  }

  const resume = () => {
    stalled = false
    for (const pair of pairs) for (const lane of pair.lanes) pump(lane)
  }

  const wire = (lane: Lane, pair: Pair) => {
    lane.from.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1")
      const match = triggers.find(({ trigger }) => trigger.direction === lane.direction && text.includes(trigger.contains))
      if (match !== undefined) {
        triggers = triggers.filter((t) => t !== match)
        if (match.trigger.action === "cut") {
          cut()
          match.fired()
          return
        }
        if (match.trigger.action === "stall") stall()
        match.fired()
      }
      enqueue(lane, { _tag: "data", chunk })
    })
    lane.from.on("end", () => enqueue(lane, { _tag: "end" }))
    lane.from.on("error", () => {
      // A reset from this side travels on like any other event.
      enqueue(lane, { _tag: "destroy" })
    })
    lane.from.on("close", () => {
      if (lane.from === pair.client) {
        closedByClient++
        const waiters = clientCloseWaiters
        clientCloseWaiters = []
        for (const waiter of waiters) waiter()
      }
      if (pair.client.destroyed && pair.server.destroyed) pairs.delete(pair)
    })
  }

  const server = net.createServer({ noDelay: true }, (client) => {
    accepted++
    const upstream = net.connect({ host: targetHost, port: targetPort, noDelay: true })
    const toServer: Lane = { from: client, to: upstream, direction: "toServer", queue: [], timer: undefined }
    const toClient: Lane = { from: upstream, to: client, direction: "toClient", queue: [], timer: undefined }
    const pair: Pair = { client, server: upstream, lanes: [toServer, toClient] }
    pairs.add(pair)
    wire(toServer, pair)
    wire(toClient, pair)
  })

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port

  return {
    port,
    url: (databaseUrl) => {
      const url = new URL(databaseUrl)
      url.hostname = "127.0.0.1"
      url.port = String(port)
      return url.toString()
    },
    setLatency: (millis, direction = "both") => {
      if (direction === "both" || direction === "toServer") latency.toServer = millis
      if (direction === "both" || direction === "toClient") latency.toClient = millis
    },
    cut,
    stall,
    resume,
    stats: () => ({ accepted, open: pairs.size, closedByClient }),
    when: (trigger) =>
      new Promise<void>((resolve) => {
        triggers.push({ trigger, fired: resolve })
      }),
    nextClientClose: () =>
      new Promise<void>((resolve) => {
        clientCloseWaiters.push(resolve)
      }),
    close: () =>
      new Promise<void>((resolve) => {
        stalled = false
        cut()
        server.close(() => resolve())
      })
  }
}

/** A proxy for the duration of the scope. */
export const scoped = (targetUrl: string): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(() => start(targetUrl)), (proxy) => Effect.promise(() => proxy.close()))
