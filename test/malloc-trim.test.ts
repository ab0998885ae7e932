import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  TRIM_AFTER_GROWTH_MB,
  TRIM_CHECK_MS,
  TRIM_ENV,
  glibcVersion,
  loadMallocTrim,
  startMallocTrim,
  trimCheckMs,
} from '../daemon/malloc-trim.ts'

const MB = 2 ** 20

describe('how often the daemon checks whether to trim', () => {
  it('is every second unless the environment says otherwise; 0 turns it off', () => {
    expect(trimCheckMs({})).toBe(TRIM_CHECK_MS)
    expect(TRIM_CHECK_MS).toBe(1_000)
    expect(trimCheckMs({ [TRIM_ENV]: ' ' })).toBe(1_000)
    expect(trimCheckMs({ [TRIM_ENV]: ' 250 ' })).toBe(250)
    expect(trimCheckMs({ [TRIM_ENV]: '0' })).toBeUndefined()
  })

  it.each(['-1', '1.5', 'often', '3600001', '1e3', '500 ms'])(
    'refuses %j, naming the variable',
    (given) => {
      expect(() => trimCheckMs({ [TRIM_ENV]: given })).toThrow(
        expect.objectContaining({
          code: 'INVALID_CONFIG',
          message: expect.stringContaining(`${TRIM_ENV} must be a whole number of milliseconds`),
        }),
      )
    },
  )
})

describe('the trimmer', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('trims once resident memory grew by enough since its lowest point', () => {
    vi.useFakeTimers()
    let rss = 300 * MB
    const trim = vi.fn(() => {
      rss -= 50 * MB // what a trim gives back
      return 1
    })
    const trimmer = startMallocTrim(trim, 1_000, { rss: () => rss })
    rss += (TRIM_AFTER_GROWTH_MB - 1) * MB
    vi.advanceTimersByTime(1_000)
    expect(trim).not.toHaveBeenCalled()
    rss += 1 * MB
    vi.advanceTimersByTime(1_000)
    expect(trim).toHaveBeenCalledTimes(1)
    expect(trimmer.trims).toBe(1)
    // Memory given back meanwhile (V8 shrank its heap) lowers the mark growth counts from.
    rss -= 100 * MB
    vi.advanceTimersByTime(1_000)
    rss += TRIM_AFTER_GROWTH_MB * MB
    vi.advanceTimersByTime(1_000)
    expect(trim).toHaveBeenCalledTimes(2)
    trimmer.stop()
    rss += 500 * MB
    vi.advanceTimersByTime(10_000)
    expect(trim).toHaveBeenCalledTimes(2)
  })

  it('stops at the first check that fails, and says why', () => {
    vi.useFakeTimers()
    let reads = 0
    const failures: string[] = []
    const trim = vi.fn(() => 1)
    startMallocTrim(trim, 1_000, {
      rss: () => {
        reads++
        if (reads === 2) throw new Error('EMFILE: too many open files')
        return 300 * MB + reads * 100 * MB
      },
      onFailure: (reason) => failures.push(reason),
    })
    vi.advanceTimersByTime(5_000)
    expect(failures).toEqual(['EMFILE: too many open files'])
    expect(reads).toBe(2) // no check after the failed one
    expect(trim).not.toHaveBeenCalled()
  })

  it('is not there without glibc', () => {
    expect(loadMallocTrim({ glibc: undefined })).toEqual({ reason: 'not glibc' })
  })

  // Linux with glibc, as CI and the daemon's usual host run.
  it.runIf(glibcVersion() !== undefined)(
    "hands freed memory between live blocks back to the system (glibc's malloc_trim)",
    () => {
      // A child process of its own: this one's heaps hold whatever the other tests left.
      const script = `
        import { loadMallocTrim } from ${JSON.stringify(fileURLToPath(new URL('../daemon/malloc-trim.ts', import.meta.url)))}
        const loaded = loadMallocTrim()
        if (!('trim' in loaded)) throw new Error(loaded.reason)
        // Every tenth block kept: the freed runs between them (≈ 12 KB, whole pages) are
        // where free() leaves them, in the middle of the heap.
        let blocks = Array.from({ length: 200_000 }, (_, i) => new Uint8Array(1_000 + (i % 7) * 100))
        const kept = blocks.filter((_, i) => i % 10 === 0)
        blocks = undefined
        for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 50)) }
        const before = process.memoryUsage.rss()
        loaded.trim()
        const after = process.memoryUsage.rss()
        console.log(JSON.stringify({ before, after, kept: kept.length }))
      `
      // Without settings that change how malloc frees (another allocator, glibc's tunables).
      const env = Object.fromEntries(
        Object.entries(process.env).filter(
          ([name]) => !/^(MALLOC_|GLIBC_TUNABLES$|LD_PRELOAD$)/.test(name),
        ),
      )
      const child = spawnSync(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', '--input-type=module', '--eval', script],
        { encoding: 'utf8', timeout: 50_000, env },
      )
      expect(child.status, child.stderr).toBe(0)
      const { before, after, kept } = JSON.parse(child.stdout) as {
        before: number
        after: number
        kept: number
      }
      expect(kept).toBe(20_000)
      // ≈ 220 MB freed between live blocks (180 MB went back when this was written).
      expect(before - after).toBeGreaterThan(100 * MB)
    },
    60_000, // a child process on a busy machine
  )
})
