/**
 * Every benchmark at a tiny size, so that `npm run bench` cannot rot: each
 * runs end to end against the test server (its own databases), checks what it
 * measured (row counts, same end state), and reports finite figures.
 * Nothing is timed or compared against targets here: that is the benchmark's
 * job, on a quiet machine, not the test suite's.
 */
import { describe, expect, it } from "vitest"
import { inject } from "vitest"
import { benchmarks } from "../bench/benchmarks.js"

describe("benchmarks (smoke size)", () => {
  for (const [name, benchmark] of Object.entries(benchmarks)) {
    it(`${name} runs end to end and reports every figure`, async () => {
      const lines: Array<string> = []
      const report = await benchmark.run({
        url: inject("databaseUrl"),
        size: undefined,
        runs: undefined,
        smoke: true,
        log: (line) => lines.push(line)
      })
      expect(report.markdown.length).toBeGreaterThan(200)
      // The migration benchmark's baseline must reach the migration's end state.
      expect(report.markdown).not.toMatch(/DIFFERENT/)
      expect(report.figures.length).toBeGreaterThan(0)
      for (const figure of report.figures) {
        expect(Number.isFinite(figure.value), `${figure.path}: ${figure.display}`).toBe(true)
        expect(figure.value).toBeGreaterThan(0)
        expect(figure.target).toMatch(/^[<>]= /)
      }
    }, 240_000)
  }
})
