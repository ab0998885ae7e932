// Handing freed native memory back to the system. glibc's malloc keeps what a process
// frees for its next allocations and returns to the system only the free space at the top
// of each heap. A daemon frees small blocks by the million — every value LevelDB hands
// over, and every byte array past a few dozen bytes that JavaScript lets go, is one —
// among blocks that stay (LevelDB's caches and write buffers), so the freed space sits
// between live blocks and stays resident. In `bench:sync`, after a bulk edit and a
// catch-up, a daemon's malloc heaps held 250–350 MB of its 520–620 MB, and a
// `malloc_trim(0)` called from a debugger took A from 513 to 371 MB and B from 576 to
// 429 MB at once (BENCHMARKS.md, "Freed memory handed back"): it releases every free
// page, those between live blocks too. It is called through koffi (an FFI: Node has no
// way of its own to call into libc) once resident memory has grown by
// TRIM_AFTER_GROWTH_MB since its lowest point after the last trim: an idle daemon never
// trims, a busy one at most once a second, each call 0.5–10 ms as measured.
import { createRequire } from 'node:module'
import { wholeNumberFromEnv } from './env-number.ts'

/**
 * How often the daemon checks, in ms. A check reads the resident size (one small read
 * of /proc); at a second, what piles up between trims is what one busy second frees.
 */
export const TRIM_CHECK_MS = 1_000
/** How often, in ms, the daemon checks whether to trim; 0 turns trimming off. */
export const TRIM_ENV = 'OBJECTSYNC_MALLOC_TRIM_MS'
/**
 * Resident growth (MB) that calls for a trim. A trim took ≈ 0.5 ms in `bench:local` (17
 * in 10 ms over a whole run; 2–10 ms each in a prototype that trimmed every second in
 * `bench:sync`); growth no trim gives back (a first sync's live heap, LevelDB's files as
 * mapped) then costs at most a trim per 16 MB of it, and what a trim would give back
 * stays within 16 MB between checks.
 */
export const TRIM_AFTER_GROWTH_MB = 16
/** An hour: checking less often is trimming in name only. */
const MAX_CHECK_MS = 3_600_000

/**
 * How often the daemon checks whether to trim: TRIM_CHECK_MS, or what the environment
 * says; undefined when it says 0. A value that is not a whole number of milliseconds up to
 * an hour is refused (INVALID_CONFIG: `start` exits with code 2), naming the variable.
 */
export function trimCheckMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const ms = wholeNumberFromEnv(env, TRIM_ENV, {
    fallback: TRIM_CHECK_MS,
    max: MAX_CHECK_MS,
    expected: `a whole number of milliseconds from 0 (no trimming) to ${MAX_CHECK_MS}`,
  })
  return ms === 0 ? undefined : ms
}

interface Koffi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown }
}

/**
 * glibc's malloc_trim(0) as a function, or why there is none: another C library (musl,
 * macOS, Windows) has no such call, and koffi is an optional dependency; the daemon then
 * runs without it.
 */
export function loadMallocTrim(
  libc: { glibc: string | undefined } = { glibc: glibcVersion() },
): { trim: () => number } | { reason: string } {
  if (libc.glibc === undefined) return { reason: 'not glibc' }
  try {
    // Typed here by the one call made of it, so that building needs no koffi either.
    const koffi = createRequire(import.meta.url)('koffi') as Koffi
    const mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)')
    return { trim: () => mallocTrim(0) as number }
  } catch (error) {
    if ((error as { code?: unknown }).code === 'MODULE_NOT_FOUND') {
      return { reason: 'koffi is not installed' }
    }
    return { reason: error instanceof Error ? error.message : String(error) }
  }
}

/** The version of glibc this process runs with; undefined on any other C library. */
export function glibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined
  // The report would also list every socket: not what is asked for here (Node ≥ 20.13).
  const reports = process.report as typeof process.report & { excludeNetwork: boolean }
  const excluded = reports.excludeNetwork
  try {
    reports.excludeNetwork = true
    const report = reports.getReport() as { header?: { glibcVersionRuntime?: string } }
    return report.header?.glibcVersionRuntime
  } catch {
    return undefined
  } finally {
    reports.excludeNetwork = excluded
  }
}

export interface MallocTrimmer {
  /** Trims done, and the milliseconds they took. */
  readonly trims: number
  readonly spentMs: number
  stop(): void
}

/**
 * Checks every `everyMs` and trims when resident memory has grown by
 * TRIM_AFTER_GROWTH_MB since its lowest point after the last trim (or the start). The
 * timer never keeps the process alive. A check that throws stops the trimming, and
 * `onFailure` is told why: memory is then only held longer, never lost.
 */
export function startMallocTrim(
  trim: () => number,
  everyMs: number,
  options: { rss?: () => number; onFailure?: (reason: string) => void } = {},
): MallocTrimmer {
  const rss = options.rss ?? (() => process.memoryUsage.rss())
  const growth = TRIM_AFTER_GROWTH_MB * 2 ** 20
  let after = rss()
  let trims = 0
  let spentMs = 0
  const check = (): void => {
    try {
      const now = rss()
      // Growth from the lowest point since the last trim: memory V8 gave back in between
      // is no reason to trim.
      after = Math.min(after, now)
      if (now - after < growth) return
      const began = performance.now()
      trim()
      spentMs += performance.now() - began
      trims++
      after = rss()
    } catch (error) {
      clearInterval(timer)
      try {
        options.onFailure?.(error instanceof Error ? error.message : String(error))
      } catch {
        // Telling of it failed too: trimming has stopped all the same.
      }
    }
  }
  const timer = setInterval(check, everyMs)
  timer.unref()
  return {
    get trims() {
      return trims
    },
    get spentMs() {
      return spentMs
    },
    stop: () => clearInterval(timer),
  }
}

/**
 * Starts trimming for this process as the environment says (see the top); undefined when
 * it says not to or libc has no malloc_trim. `onNoTrim` is told why there is none, or
 * why trimming stopped.
 */
export function trimFreedMemory(
  onNoTrim: (reason: string) => void = () => {},
  env: NodeJS.ProcessEnv = process.env,
): MallocTrimmer | undefined {
  const everyMs = trimCheckMs(env)
  if (everyMs === undefined) return undefined
  const loaded = loadMallocTrim()
  if ('reason' in loaded) {
    onNoTrim(loaded.reason)
    return undefined
  }
  return startMallocTrim(loaded.trim, everyMs, { onFailure: onNoTrim })
}
