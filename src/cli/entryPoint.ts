/**
 * Whether a module is the program Node was started with (`tsx src/cli.ts`,
 * the `docstore` bin, `tsx src/migrate.ts`), so that importing it runs nothing.
 * Compared as file URLs of real paths: a checkout whose path has a space or a
 * symlink in it is the same file as its percent-encoded module URL.
 */
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const realPath = (file: string) => {
  try {
    return fs.realpathSync(file)
  } catch {
    return file
  }
}

export const isEntryPoint = (moduleUrl: string, argv: ReadonlyArray<string> = process.argv): boolean => {
  const started = argv[1]
  if (started === undefined) return false
  const module = realPath(fileURLToPath(moduleUrl))
  return realPath(started) === module || realPath(`${started}.ts`) === module
}
