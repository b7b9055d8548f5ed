/**
 * The `docstore` command line (the package's `bin`), against `DATABASE_URL`
 * or the embedded default: `tsx src/cli.ts <command>`. Importing this module
 * runs nothing; the commands live in `cli/`.
 *
 * Every command that prints records takes `--json` and then prints one JSON
 * object a line. Exit codes: 0 done, 1 the operation failed (one line on
 * stderr), 2 bad usage or bad input, 3 not found.
 *
 * @since 0.1.0
 */
import { isEntryPoint } from "./cli/entryPoint.js"
import { main } from "./cli/main.js"

export {
  /**
   * @since 0.1.0
   */
  docstore,
  /**
   * @since 0.1.0
   */
  main
} from "./cli/main.js"

if (isEntryPoint(import.meta.url)) main(process.argv)
