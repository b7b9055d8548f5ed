/**
 * `COPY ... FROM STDIN` (text format) on a `pg` client, without
 * pg-copy-streams: the data goes through pg's own copy-in messages (a
 * submittable query, the hook pg-copy-streams uses), in chunks of 64 kB built
 * as the lines are read, so the client never holds the whole load as text.
 *
 * The statement is not watched by the client-side deadline (deadlineClient.ts
 * arms it for statements with a callback); the server's statement timeout
 * still applies.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type pg from "pg"

const special = /[\\\t\n\r]/
const specials = /[\\\t\n\r]/g
const escapes: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" }

/**
 * One column of a text-format COPY line: `\N` for null, and backslash, tab,
 * newline and carriage return escaped (the characters COPY would otherwise read
 * as an escape, a column or a row end).
 */
export const copyText = (value: string | null): string =>
  value === null ? "\\N" : special.test(value) ? value.replace(specials, (c) => escapes[c]!) : value

const chunkSize = 65_536

class CopyIn {
  private error: Error | undefined
  private settled = false
  constructor(
    readonly text: string,
    private readonly lines: () => Iterable<string>,
    private readonly done: (error: Error | undefined) => void
  ) {}
  private settle(error: Error | undefined) {
    if (this.settled) return
    this.settled = true
    this.done(error)
  }
  submit(connection: { query: (text: string) => void }) {
    connection.query(this.text)
  }
  handleCopyInResponse(connection: { sendCopyFromChunk: (chunk: Buffer) => void; endCopyFrom: () => void; sendCopyFail: (message: string) => void }) {
    let chunk = ""
    try {
      for (const line of this.lines()) {
        chunk += line
        if (chunk.length >= chunkSize) {
          connection.sendCopyFromChunk(Buffer.from(chunk))
          chunk = ""
        }
      }
    } catch (error) {
      // The server then fails the COPY, and the error reported is this one.
      this.error = error instanceof Error ? error : new Error(String(error))
      connection.sendCopyFail(this.error.message)
      return
    }
    if (chunk.length > 0) connection.sendCopyFromChunk(Buffer.from(chunk))
    connection.endCopyFrom()
  }
  handleCommandComplete() {}
  // pg forgets a query that failed: its ReadyForQuery does not reach it, so an error settles it here.
  handleError(error: Error) {
    this.settle(this.error ?? error)
  }
  handleReadyForQuery() {
    this.settle(this.error)
  }
}

/** `COPY ... FROM STDIN` of text-format lines (each ending in a newline, columns escaped with `copyText`). */
export const copyInPromise = (client: pg.ClientBase, text: string, lines: () => Iterable<string>) =>
  new Promise<void>((resolve, reject) => {
    client.query(new CopyIn(text, lines, (error) => error ? reject(error) : resolve()) as unknown as pg.QueryConfig)
  })

/** As `copyInPromise`, failing with the `SqlError` a statement of `@effect/sql` fails with. */
export const copyIn = (client: pg.ClientBase, text: string, lines: () => Iterable<string>) =>
  Effect.async<void, SqlError>((resume) => {
    client.query(
      new CopyIn(text, lines, (cause) =>
        resume(cause ? Effect.fail(new SqlError({ cause, message: "Failed to execute statement" })) : Effect.void)
      ) as unknown as pg.QueryConfig
    )
  })
