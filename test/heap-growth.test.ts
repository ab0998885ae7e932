import { describe, expect, it } from 'vitest'
import {
  HEAP_GROWING_ENV,
  HEAP_GROWING_PERCENT,
  heapGrowingPercent,
} from '../daemon/heap-growth.ts'

describe("the daemon's heap growth", () => {
  it('is 50 % unless the environment says otherwise; 0 leaves V8 its own', () => {
    expect(heapGrowingPercent({}, [])).toBe(HEAP_GROWING_PERCENT)
    expect(HEAP_GROWING_PERCENT).toBe(50)
    expect(heapGrowingPercent({ [HEAP_GROWING_ENV]: '' }, [])).toBe(50)
    expect(heapGrowingPercent({ [HEAP_GROWING_ENV]: ' 120 ' }, [])).toBe(120)
    expect(heapGrowingPercent({ [HEAP_GROWING_ENV]: '0' }, [])).toBeUndefined()
  })

  it('leaves alone a growth given to Node itself', () => {
    expect(heapGrowingPercent({}, ['--heap-growing-percent=20'])).toBeUndefined()
    expect(heapGrowingPercent({ [HEAP_GROWING_ENV]: '35' }, ['--heap_growing_percent=20'])).toBe(
      undefined,
    )
    expect(heapGrowingPercent({}, ['--heap-prof', '--max-semi-space-size=32'])).toBe(50)
    // A bad value is still refused: it says what the next start without the flag does.
    expect(() =>
      heapGrowingPercent({ [HEAP_GROWING_ENV]: 'x' }, ['--heap-growing-percent=20']),
    ).toThrow(HEAP_GROWING_ENV)
  })

  it.each(['-1', '1.5', 'half', '1001', '1e3', '12 %'])(
    'refuses %j, naming the variable',
    (given) => {
      expect(() => heapGrowingPercent({ [HEAP_GROWING_ENV]: given }, [])).toThrow(
        expect.objectContaining({
          code: 'INVALID_CONFIG',
          message: expect.stringContaining(`${HEAP_GROWING_ENV} must be a whole number`),
        }),
      )
    },
  )
})
