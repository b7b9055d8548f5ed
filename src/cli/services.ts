/**
 * The services the HTTP commands run on, against `DATABASE_URL` or the
 * embedded default: the tokens alone (`docstore token`), or the whole store
 * with its blob store (`BlobStore.layerConfig`) for `docstore serve`, with
 * tenant isolation when asked.
 */
import { NodeContext } from "@effect/platform-node"
import * as Layer from "effect/Layer"
import * as ApiTokens from "../ApiTokens.js"
import * as BlobStore from "../BlobStore.js"
import * as Database from "../Database.js"
import * as DocumentBlobs from "../DocumentBlobs.js"
import * as DocumentChanges from "../DocumentChanges.js"
import * as Documents from "../Documents.js"
import * as TenantIsolation from "../TenantIsolation.js"

export const tokens = ApiTokens.layer.pipe(Layer.provideMerge(Database.layerConfig))

export const layer = (options: { readonly tenantIsolation: boolean }) =>
  DocumentBlobs.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Documents.layer, DocumentChanges.layer(), ApiTokens.layer, BlobStore.layerConfig)),
    Layer.provideMerge(options.tenantIsolation ? TenantIsolation.layer : Layer.empty),
    Layer.provideMerge(Database.layerConfig),
    Layer.provide(NodeContext.layer)
  )
