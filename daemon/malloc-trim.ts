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
// TRIM_AFTER_GROWTH_MB since the last trim: an idle daemon never trims, a busy one about
// once a second, each call a few milliseconds.
import { createRequire } from 'node:module'
import { ObjectSyncError } from '../src/errors.ts'

export const TRIM_CHECK_MS = 1_000
/** How often, in ms, the daemon checks whether to trim; 0 turns trimming off. */
export const TRIM_ENV = 'OBJECTSYNC_MALLOC_TRIM_MS'
/** Resident growth (MB) since the last trim that calls for the next. */
export const TRIM_AFTER_GROWTH_MB = 16
const MAX_CHECK_MS = 3_600_000

/**
 * How often the daemon checks whether to trim: TRIM_CHECK_MS, or what the environment
 * says; undefined when it says 0. A value that is not a whole number of milliseconds up to
 * an hour is refused (INVALID_CONFIG: `start` exits with code 2), naming the variable.
 */
export function trimCheckMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const given = env[TRIM_ENV]
  const blank = given === undefined || given.trim() === ''
  const ms = blank ? TRIM_CHECK_MS : /^\s*\d{1,7}\s*$/.test(given) ? Number(given) : NaN
  if (!(ms >= 0 && ms <= MAX_CHECK_MS)) {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `${TRIM_ENV} must be a whole number of milliseconds from 0 (no trimming) to ${MAX_CHECK_MS}, not ${JSON.stringify(given)}`,
    )
  }
  return ms === 0 ? undefined : ms
}

/**
 * glibc's malloc_trim(0) as a function, or why there is none: another C library (musl,
 * macOS, Windows) has no such call, and the daemon then runs without it.
 */
export function loadMallocTrim(
  libc: { glibc: string | undefined } = { glibc: glibcVersion() },
): { trim: () => number } | { reason: string } {
  if (libc.glibc === undefined) return { reason: 'not glibc' }
  try {
    // An optional dependency (an install without it runs without trimming): typed here
    // by the one call made of it, so that building needs no koffi either.
    const koffi = createRequire(import.meta.url)('koffi') as Koffi
    const mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)')
    return { trim: () => mallocTrim(0) as number }
  } catch (error) {
    return { reason: error instanceof Error ? error.message : String(error) }
  }
}

interface Koffi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown }
}

/** The version of glibc this process runs with; undefined on any other C library. */
export function glibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } }
  return report.header?.glibcVersionRuntime
}

export interface MallocTrimmer {
  /** Trims done, and the milliseconds they took. */
  readonly trims: number
  readonly spentMs: number
  /** Checks once now (what the timer does). */
  check(): void
  stop(): void
}

/**
 * Checks every `everyMs` and trims when resident memory has grown by
 * TRIM_AFTER_GROWTH_MB since its lowest point after the last trim (or the start). The
 * timer never keeps the process alive.
 */
export function startMallocTrim(
  trim: () => number,
  everyMs: number,
  rss: () => number = () => process.memoryUsage.rss(),
): MallocTrimmer {
  const growth = TRIM_AFTER_GROWTH_MB * 2 ** 20
  let after = rss()
  let trims = 0
  let spentMs = 0
  const check = (): void => {
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
    check,
    stop: () => clearInterval(timer),
  }
}

/**
 * Starts trimming for this process as the environment says (see the top); undefined when
 * it says not to or libc has no malloc_trim (`onUnavailable` is told why).
 */
export function trimFreedMemory(
  onUnavailable: (reason: string) => void = () => {},
  env: NodeJS.ProcessEnv = process.env,
): MallocTrimmer | undefined {
  const everyMs = trimCheckMs(env)
  if (everyMs === undefined) return undefined
  const loaded = loadMallocTrim()
  if ('reason' in loaded) {
    onUnavailable(loaded.reason)
    return undefined
  }
  return startMallocTrim(loaded.trim, everyMs)
}
