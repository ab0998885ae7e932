// How far V8 lets the JavaScript heap grow past what its last full collection left live,
// before it collects again. Left to its own heuristics, V8 lets it grow up to four times
// under a steady stream of short-lived objects, and a first sync is one: a daemon with
// ≈ 90 MB live peaked at 555–580 MB resident with 100,000 records, most of it garbage not
// yet collected. At 50 % the same first sync peaks at ≈ 400 MB, for ≈ 10 % more time
// (BENCHMARKS.md, "The heap's growth"). The flag holds for the whole process, its worker
// threads included, from the next full collection on; it replaces V8's factor in every
// mode (V8's own is lower, 1.1–1.3×, when it reduces memory on an idle process). A
// `--heap-growing-percent` given to Node itself is left as it is.
import { setFlagsFromString } from 'node:v8'
import { wholeNumberFromEnv } from './env-number.ts'

export const HEAP_GROWING_PERCENT = 50
/** Another percent for the daemon; 0 leaves V8's own heuristics. */
export const HEAP_GROWING_ENV = 'OBJECTSYNC_HEAP_GROWING_PERCENT'
const MAX_PERCENT = 1000

/**
 * The heap growth the daemon runs with: HEAP_GROWING_PERCENT, or what the environment
 * says; undefined for V8's own, or for the one Node was started with. A value that is
 * not a whole number from 0 to 1000 is refused (INVALID_CONFIG: `start` exits with code
 * 2), naming the variable, even then.
 */
export function heapGrowingPercent(
  env: NodeJS.ProcessEnv = process.env,
  nodeFlags: readonly string[] = process.execArgv,
): number | undefined {
  const percent = wholeNumberFromEnv(env, HEAP_GROWING_ENV, {
    fallback: HEAP_GROWING_PERCENT,
    max: MAX_PERCENT,
    expected: `a whole number from 0 (V8's own heap growth) to ${MAX_PERCENT}`,
  })
  const givenToNode = nodeFlags.some((flag) => /^--heap[-_]growing[-_]percent(=|$)/.test(flag))
  return percent === 0 || givenToNode ? undefined : percent
}

/** Sets the heap growth for this process (see the top); returns the percent set, if any. */
export function limitHeapGrowth(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const percent = heapGrowingPercent(env)
  if (percent !== undefined) setFlagsFromString(`--heap-growing-percent=${percent}`)
  return percent
}
