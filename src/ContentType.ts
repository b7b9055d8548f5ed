/**
 * Content types of generated documents, inferred from their names when the
 * writer did not give one.
 *
 * @since 0.1.0
 */
import mime from "mime"

/**
 * What a generated document gets when its name says nothing useful.
 *
 * @since 0.1.0
 */
export const fallback = "application/octet-stream"

/**
 * The content type registered for the name's extension, else the fallback.
 *
 * @since 0.1.0
 */
export const infer = (name: string): string => mime.getType(name) ?? fallback
