/**
 * A real S3-protocol server for the tests: `s3rver` (an S3 implementation on
 * the local filesystem) on 127.0.0.1, on a free port, with one bucket.
 *
 * s3rver implements objects, listing and multipart uploads, but answers
 * `NotImplemented` to bucket versioning (PutBucketVersioning), so every
 * VersionId it returns is absent: the store reports `null`.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import S3rver from "s3rver"
import type { S3Options } from "../../src/BlobStore.js"

export interface S3Server {
  readonly endpoint: string
  readonly bucket: string
  /** The options of a store on this server (s3rver's fixed credentials, path-style URLs). */
  readonly options: (overrides?: Partial<S3Options>) => S3Options
  /** Every request the server received so far, as "METHOD /path?query". */
  readonly requests: () => ReadonlyArray<string>
  /** Stops the server now (a stopped server answers nothing: connections are refused). */
  readonly stop: () => Promise<void>
}

export const start = async (bucket = "docstore-test"): Promise<S3Server> => {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "docstore-s3rver-"))
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] })
  const { port } = await server.run()
  const endpoint = `http://127.0.0.1:${port}`
  const requests: Array<string> = []
  server.httpServer?.on("request", (request: { method?: string; url?: string }) => {
    requests.push(`${request.method} ${request.url}`)
  })
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    // The SDK keeps connections alive; close them, or close() waits for them to idle out.
    server.httpServer?.closeAllConnections()
    await server.close()
    await fs.rm(directory, { recursive: true, force: true })
  }
  return {
    endpoint,
    bucket,
    options: (overrides = {}) => ({
      bucket,
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: Redacted.make("S3RVER") },
      maxAttempts: 2,
      ...overrides
    }),
    requests: () => [...requests],
    stop
  }
}

/** The server for the scope's lifetime. */
export const scoped = (bucket?: string): Effect.Effect<S3Server, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(() => start(bucket)), (server) => Effect.promise(server.stop))
