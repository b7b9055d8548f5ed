/**
 * The services the HTTP commands run on: the store plus its tokens, against
 * `DATABASE_URL` or the embedded default; with tenant isolation when asked.
 */
import * as Layer from "effect/Layer"
import * as ApiTokens from "../ApiTokens.js"
import * as Database from "../Database.js"
import * as DocumentChanges from "../DocumentChanges.js"
import * as Documents from "../Documents.js"
import * as TenantIsolation from "../TenantIsolation.js"

export const layer = (options: { readonly tenantIsolation: boolean } = { tenantIsolation: false }) =>
  Layer.mergeAll(Documents.layer, DocumentChanges.layer(), ApiTokens.layer).pipe(
    Layer.provideMerge(options.tenantIsolation ? TenantIsolation.layer : Layer.empty),
    Layer.provideMerge(Database.layerConfig)
  )
