/**
 * `delete`: the document and its versions; its changes stay in the log.
 */
import * as Effect from "effect/Effect"
import { keyLock } from "./keys.js"
import { notFound, type Store } from "./store.js"

export const delete_ = (store: Store) => (workspaceId: string, documentId: string) =>
  store.isolation.scoped(workspaceId)(
    store.sql`
      WITH target AS (
        SELECT id, ${keyLock(store.sql, store.sql`workspace_id`, store.sql`kind`, store.sql`name_key`)}
        FROM files WHERE id = ${documentId} AND workspace_id = ${workspaceId}
      )
      DELETE FROM files USING target WHERE files.id = target.id RETURNING files.id`
  ).pipe(
    Effect.flatMap((rows) => rows.length === 0 ? Effect.fail(notFound(documentId)) : store.wakeup.notify)
  )
