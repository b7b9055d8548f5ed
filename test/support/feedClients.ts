/**
 * Clients of `GET .../changes` as a browser or a script would write them:
 * a server-sent-events reader (what EventSource does, with Last-Event-ID on
 * reconnect) and a long-poll loop.
 */

export interface SseEvent {
  readonly event: string
  readonly id: string | undefined
  readonly data: string
}

export interface SseConnection {
  /** Resolves when the server ends the stream or the connection is closed. */
  readonly done: Promise<void>
  readonly close: () => void
}

export interface ChangeLine {
  readonly cursor: string
  readonly id: string
  readonly documentId: string
  readonly op: string
}

/**
 * Opens `url` as an event stream; `onEvent` sees every event (comments as
 * event `comment`) and may return `false` to close the connection.
 */
export const openSse = async (
  url: string,
  headers: Record<string, string>,
  onEvent: (event: SseEvent) => boolean | void
): Promise<{ readonly status: number; readonly body?: unknown; readonly connection?: SseConnection }> => {
  const controller = new AbortController()
  const response = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal })
  if (response.status !== 200) return { status: response.status, body: await response.json() }
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  const done = (async () => {
    let buffer = ""
    try {
      while (true) {
        const { done, value } = await reader.read()
        if (done) return
        buffer += value
        let end: number
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const fields = { event: "message", id: undefined as string | undefined, data: [] as Array<string> }
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) fields.event = "comment"
            else if (line.startsWith("event: ")) fields.event = line.slice(7)
            else if (line.startsWith("id: ")) fields.id = line.slice(4)
            else if (line.startsWith("data: ")) fields.data.push(line.slice(6))
          }
          if (onEvent({ event: fields.event, id: fields.id, data: fields.data.join("\n") }) === false) {
            controller.abort()
            return
          }
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error
    }
  })()
  return { status: 200, connection: { done, close: () => controller.abort() } }
}

/** One catch-up or long-poll answer: its changes and the cursor to continue from. */
export const getChanges = async (url: string, headers: Record<string, string>) => {
  const response = await fetch(url, { headers })
  const text = await response.text()
  const changes: Array<ChangeLine> = response.status === 200
    ? text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))
    : []
  return {
    status: response.status,
    headers: response.headers,
    changes,
    cursor: response.headers.get("docstore-cursor"),
    body: response.status >= 400 ? JSON.parse(text) : undefined
  }
}

/** Polls `condition` until it holds, or fails after `timeoutMs`. */
export const eventually = async (condition: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = "condition") => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
