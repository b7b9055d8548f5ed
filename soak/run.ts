/**
 * `npm run soak [-- --duration 3m] [--writers N] [--prune-age 20s] [--faults 1s-5s] [--no-network-faults]`
 *
 * A bounded soak (soak/soak.ts): mixed load, faults and prune on a fresh
 * database, with the invariants checked continuously. The server is
 * DATABASE_URL's (the soak creates and drops a database of its own there),
 * else a fresh embedded PostgreSQL in a temporary directory, removed
 * afterwards (bench/server.ts). The second library runtime connects through
 * the fault proxy of the tests (test/support/faultProxy.ts), for network
 * faults besides the terminated connections. Prints the report; exit code 1
 * on any invariant violation.
 */
import * as FaultProxy from "../test/support/faultProxy.js"
import { createDatabase, databaseUrl, dropDatabase, serverFacts, uniqueName, withServer } from "../bench/server.js"
import { formatReport, runSoak, type SoakOptions } from "./soak.js"

const usage = "usage: npm run soak [-- --duration 3m] [--writers N] [--prune-age 20s] [--faults 1s-5s] [--no-network-faults]"

/** `90s`, `3m`, `1h`, or plain seconds. */
const parseDuration = (text: string | undefined, flag: string): number => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text ?? "")
  if (!match) throw new Error(`${flag} needs a duration such as 90s or 3m\n${usage}`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? "s") as "ms" | "s" | "m" | "h"]
  return Number(match[1]) * unit
}

const parseArguments = (args: ReadonlyArray<string>) => {
  let duration = 3 * 60_000
  let networkFaults = true
  const rest: { writers?: number; pruneAge?: number; faultInterval?: readonly [number, number] } = {}
  for (let i = 0; i < args.length; i++) {
    const flag = /^--([a-z-]+)(?:=(.*))?$/.exec(args[i]!)
    if (!flag) throw new Error(`unexpected argument ${args[i]}\n${usage}`)
    if (flag[1] === "help") {
      process.stdout.write(`${usage}\n`)
      process.exit(0)
    }
    if (flag[1] === "no-network-faults") {
      networkFaults = false
      continue
    }
    const value = flag[2] ?? args[++i]
    switch (flag[1]) {
      case "duration":
        duration = parseDuration(value, "--duration")
        break
      case "writers": {
        const writers = Number(value)
        if (!Number.isInteger(writers) || writers < 1) throw new Error(`--writers needs a positive integer\n${usage}`)
        rest.writers = writers
        break
      }
      case "prune-age":
        rest.pruneAge = parseDuration(value, "--prune-age")
        break
      case "faults": {
        const [min, max] = (value ?? "").split("-").map((part) => parseDuration(part, "--faults"))
        if (min === undefined || max === undefined || max < min) throw new Error(`--faults needs a range such as 1s-5s\n${usage}`)
        rest.faultInterval = [min, max]
        break
      }
      default:
        throw new Error(`unknown option --${flag[1]}\n${usage}`)
    }
  }
  return { duration, networkFaults, ...rest }
}

const main = async () => {
  const options = parseArguments(process.argv.slice(2))
  const started = Date.now()
  const log = (line: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)
  const report = await withServer(log, async (server) => {
    const facts = await serverFacts(server.url)
    log(`PostgreSQL: ${facts.version} (${server.description})`)
    const name = uniqueName("soak")
    await createDatabase(server.url, name)
    const proxy = options.networkFaults ? await FaultProxy.start(server.url) : undefined
    try {
      log(`soak for ${options.duration / 1000} s on database ${name}`)
      const soakOptions: SoakOptions = {
        url: databaseUrl(server.url, name),
        duration: options.duration,
        writers: options.writers,
        pruneAge: options.pruneAge,
        faultInterval: options.faultInterval,
        network: proxy && {
          url: proxy.url,
          cut: proxy.cut,
          stall: proxy.stall,
          resume: proxy.resume,
          setLatency: (millis) => proxy.setLatency(millis, "both")
        },
        log
      }
      return await runSoak(soakOptions)
    } finally {
      await proxy?.close()
      await dropDatabase(server.url, name)
    }
  })
  // Exits explicitly: after a run with network faults something (not yet found) keeps the event loop alive.
  process.stdout.write(`\n${formatReport(report)}\n`, () => process.exit(report.violationCount === 0 ? 0 : 1))
}

main().catch((error) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`, () => process.exit(1))
})
