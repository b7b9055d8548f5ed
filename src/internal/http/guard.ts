/**
 * What every request of the API goes through before and after its handler:
 * the body size limit (413), the request timeout (503) (uploads: see
 * internal/http/content.ts), and bad input
 * answered as the services answer it (`InvalidInput` naming the field).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidInput } from "../../Errors.js"
import { Api, PayloadTooLarge, RequestTimeout } from "../../HttpApi.js"

export interface Options {
  readonly maxBodyBytes: number
  readonly requestTimeout: Duration.Duration
}

// An upload's body is the bytes of a version: the content handler limits its size, and its answer
// starts only after the last byte arrived, so it is not timed either.
const isUpload = (request: HttpServerRequest.HttpServerRequest) =>
  request.method === "POST" && /\/documents\/upload(\?|$)/.test(request.url)

/** The first issue of a request that did not decode, as the services name a field: `version.sha256`. */
export const invalidInput = (error: HttpApiDecodeError): InvalidInput => {
  const [issue] = error.issues
  return new InvalidInput({
    field: issue && issue.path.length > 0 ? issue.path.join(".") : "body",
    message: issue?.message ?? error.message
  })
}

// A body that cannot be read (past the limit, or not JSON) fails inside the platform's reader, which the
// API builder turns into a defect.
const unreadableBody = (defect: unknown): "tooLarge" | "malformed" | undefined =>
  HttpServerError.isServerError(defect) && defect._tag === "RequestError" && defect.reason === "Decode"
    ? String((defect.cause as { message?: unknown } | undefined)?.message).includes("maxBytes exceeded")
      ? "tooLarge"
      : "malformed"
    : undefined

/**
 * @since 0.1.0
 */
export const layer = (options: Options) => {
  const tooLarge = () =>
    new PayloadTooLarge({ maxBytes: options.maxBodyBytes, message: `the request body exceeds ${options.maxBodyBytes} bytes` })
  const timeout = () =>
    new RequestTimeout({
      message: `the request took longer than ${Duration.format(options.requestTimeout)}; retrying a write with the ` +
        `same version id is safe`
    })
  const limited = <A, E, R>(app: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const length = Number(request.headers["content-length"] ?? 0)
      if (length > options.maxBodyBytes) return yield* tooLarge()
      return yield* app
    }).pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(options.maxBodyBytes)),
      Effect.catchSomeDefect((defect) => {
        const problem = unreadableBody(defect)
        return problem === undefined ? Option.none() : Option.some(Effect.fail(
          problem === "tooLarge" ? tooLarge() : new InvalidInput({ field: "body", message: "is not valid JSON" })
        ))
      }),
      // A streamed body (server-sent events) is written after this: only the answer's start is timed.
      Effect.timeoutFail({ duration: options.requestTimeout, onTimeout: timeout })
    )
  return HttpApiBuilder.middleware(Api, (app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => isUpload(request) ? app : limited(app)).pipe(
      Effect.mapError((error: unknown) => error instanceof HttpApiDecodeError ? invalidInput(error) : error as never)
    ))
}
