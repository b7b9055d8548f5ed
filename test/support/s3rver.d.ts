// s3rver ships no type declarations; this is the part the tests use.
declare module "s3rver" {
  import type { Server } from "node:http"
  export interface S3rverOptions {
    readonly address?: string
    readonly port?: number
    readonly silent?: boolean
    readonly directory?: string
    readonly resetOnClose?: boolean
    readonly configureBuckets?: ReadonlyArray<{ readonly name: string }>
  }
  export default class S3rver {
    constructor(options: S3rverOptions)
    httpServer: Server | undefined
    run(): Promise<{ address: string; port: number }>
    close(): Promise<void>
  }
}
