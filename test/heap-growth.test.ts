import { describe, expect, it } from 'vitest'
import {
  HEAP_GROWING_ENV,
  HEAP_GROWING_PERCENT,
  heapGrowingPercent,
} from '../daemon/heap-growth.ts'

describe("the daemon's heap growth", () => {
  it('is 50 % unless the environment says otherwise; 0 leaves V8 its own', () => {
    expect(heapGrowingPercent({})).toBe(HEAP_GROWING_PERCENT)
    expect(HEAP_GROWING_PERCENT).toBe(50)
    expect(heapGrowingPercent({ [HEAP_GROWING_ENV]: '' })).toBe(50)
    expect(heapGrowingPercent({ [HEAP_GROWING_ENV]: ' 120 ' })).toBe(120)
    expect(heapGrowingPercent({ [HEAP_GROWING_ENV]: '0' })).toBeUndefined()
  })

  it.each(['-1', '1.5', 'half', '1001', '1e3', '12 %'])(
    'refuses %j, naming the variable',
    (given) => {
      expect(() => heapGrowingPercent({ [HEAP_GROWING_ENV]: given })).toThrow(
        expect.objectContaining({
          code: 'INVALID_CONFIG',
          message: expect.stringContaining(`${HEAP_GROWING_ENV} must be a whole number`),
        }),
      )
    },
  )
})
