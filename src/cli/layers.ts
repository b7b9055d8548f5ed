/** What the byte-moving commands run on: documents, the configured blob store and `DocumentBlobs`. */
import { NodeContext } from "@effect/platform-node"
import * as Layer from "effect/Layer"
import * as BlobStore from "../BlobStore.js"
import * as Database from "../Database.js"
import * as DocumentBlobs from "../DocumentBlobs.js"
import * as Documents from "../Documents.js"

/** `DocumentBlobs` and `Documents` on `DATABASE_URL` (or the embedded default) and `BlobStore.layerConfig`. */
export const BlobsLive = DocumentBlobs.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(Documents.layer, BlobStore.layerConfig)),
  Layer.provideMerge(Database.layerConfig),
  Layer.provide(NodeContext.layer)
)
