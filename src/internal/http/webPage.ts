/**
 * The web page `docstore serve` answers `/` with (webPage.html): documents,
 * their versions with download links, uploads, and live updates over the
 * API's server-sent events. It is a client of the API like any other: it
 * needs a workspace id and a token, and sees nothing the token may not.
 */
import * as fs from "node:fs/promises"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 */
export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const page = yield* Effect.orDie(Effect.promise(() => fs.readFile(new URL("./webPage.html", import.meta.url), "utf8")))
    const response = HttpServerResponse.html(page).pipe(
      HttpServerResponse.setHeaders({
        "cache-control": "no-cache",
        // Its own script and the API, nothing else.
        "content-security-policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'"
      })
    )
    yield* router.get("/", Effect.succeed(response))
  })
)
