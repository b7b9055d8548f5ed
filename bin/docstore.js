#!/usr/bin/env node
// The package's `docstore` command: runs the TypeScript CLI through tsx.
import { register } from "tsx/esm/api"

register()
const { main } = await import("../src/cli/main.ts")
main(process.argv)
