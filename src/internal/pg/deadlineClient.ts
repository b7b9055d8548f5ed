/**
 * A `pg` client that closes its connection when a statement goes unanswered
 * past its deadline. `pg`'s own `query_timeout` only stops waiting: the
 * connection would go back to the pool still waiting for that answer, and
 * every statement after it would queue behind it. Closing it fails the
 * statement (and anything queued) at once and the pool replaces it.
 *
 * It also says, on the error of a statement that may have committed although
 * its answer never arrived (sent outside a transaction, or a COMMIT), that
 * its outcome is unknown.
 */
import pg from "pg"

export const statementOutcomeUnknown =
  "no answer from the server: if the statement wrote, it may or may not have committed"

// Sent, and the connection died before the answer: the server may have committed it, or may still.
const unknownOutcome = (error: Error) => {
  if (!(error instanceof pg.DatabaseError) && !error.message.includes(statementOutcomeUnknown)) {
    error.message = `${error.message} (${statementOutcomeUnknown})`
  }
}

/** How long after the server's statement timeout the client gives up on a silent connection. */
export const graceMillis = (statementMillis: number) => Math.min(1000, Math.ceil(statementMillis / 10))

type Done = (error: Error | null, result: unknown) => void

export const clientWithDeadline = (deadlineMillis: number) =>
  class DeadlineClient extends pg.Client {
    /** Set by `Database.withoutStatementTimeout` for the transaction it runs in. */
    exempt = false
    /** Why the connection was closed: later statements on it say so. */
    lostBecause: Error | undefined = undefined
    /** The server's transaction status at its last ReadyForQuery: `I` outside a transaction. */
    transactionStatus = "I"
    /** A statement that commits by itself (or a COMMIT) was sent and is not answered yet. */
    awaitingCommit = false

    constructor(config?: pg.ClientConfig) {
      super(config)
      this.on("error", (error: Error) => {
        this.lostBecause ??= error
      })
      this.connection.on("readyForQuery", (message: { status?: string }) => {
        this.transactionStatus = message.status ?? "I"
      })
      // @effect/sql-pg reports the connection's error event, not the statement's: say it there too.
      const emit = this.emit.bind(this)
      ;(this as { emit: unknown }).emit = (event: string | symbol, ...args: Array<unknown>) => {
        const error = args[0]
        if (event === "error" && this.awaitingCommit && error instanceof Error) unknownOutcome(error)
        return emit(event, ...args)
      }
      const query = this.query.bind(this) as (...args: Array<unknown>) => unknown
      ;(this as { query: unknown }).query = (config: unknown, values?: unknown, callback?: unknown) => {
        const done = typeof values === "function" ? values : callback
        if (typeof done !== "function") return query(config, values, callback)
        const answered = this.watch(config, done as Done)
        return typeof values === "function" ? query(config, answered) : query(config, values, answered)
      }
    }

    /** Arms the deadline for one statement; the callback it returns disarms it and completes the statement. */
    private watch(config: unknown, done: Done): Done {
      const timer = deadlineMillis > 0 && !this.exempt
        ? setTimeout(() => {
          const error = new Error(`no answer from the database server within ${deadlineMillis} ms; the connection was closed`)
          this.lostBecause ??= error
          this.connection.stream.destroy(error)
        }, deadlineMillis)
        : undefined
      // Sent outside a transaction, a statement commits by itself; so does a COMMIT.
      const commits = this.transactionStatus === "I" || (typeof config === "string" && /^\s*COMMIT\b/i.test(config))
      const sent = (this as unknown as { _queryable?: boolean })._queryable !== false && !this.lostBecause
      this.awaitingCommit = commits && sent
      return (error, result) => {
        if (timer !== undefined) clearTimeout(timer)
        this.awaitingCommit = false
        if (error && !sent && this.lostBecause && error !== this.lostBecause) {
          // Refused before it was sent: it did nothing.
          error = new Error(`${error.message}: ${this.lostBecause.message}`)
        } else if (error && commits && sent) {
          unknownOutcome(error)
        }
        done(error, result)
      }
    }
  }
