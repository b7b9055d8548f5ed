/**
 * `COPY ... FROM STDIN` with bare `pg`, for the bulk baselines: pg-copy-streams
 * is not installed, so the data goes through pg's own copy-in messages (a
 * submittable query, the hook pg-copy-streams uses), in chunks of 64 kB built
 * as the lines are read: the client never holds the whole load as text.
 */
import type pg from "pg"

/** `COPY ... FROM STDIN` of text-format lines (the values here need no escaping), sent in 64 kB chunks. */
class CopyIn {
  private error: Error | undefined
  constructor(
    readonly text: string,
    private readonly lines: () => Iterable<string>,
    private readonly done: (error: Error | undefined) => void
  ) {}
  submit(connection: { query: (text: string) => void }) {
    connection.query(this.text)
  }
  handleCopyInResponse(connection: { sendCopyFromChunk: (chunk: Buffer) => void; endCopyFrom: () => void }) {
    let chunk = ""
    for (const line of this.lines()) {
      chunk += line
      if (chunk.length >= 65_536) {
        connection.sendCopyFromChunk(Buffer.from(chunk))
        chunk = ""
      }
    }
    if (chunk.length > 0) connection.sendCopyFromChunk(Buffer.from(chunk))
    connection.endCopyFrom()
  }
  handleCommandComplete() {}
  handleError(error: Error) {
    this.error = error
  }
  handleReadyForQuery() {
    this.done(this.error)
  }
}

export const copyIn = (client: pg.Client, text: string, lines: () => Iterable<string>) =>
  new Promise<void>((resolve, reject) => {
    client.query(new CopyIn(text, lines, (error) => error ? reject(error) : resolve()) as unknown as pg.QueryConfig)
  })

