import { describe, expect, it } from 'vitest'
import { StopStack } from '../daemon/instance/stop-stack.ts'

describe('StopStack', () => {
  it('stops in reverse, once', async () => {
    const stops = new StopStack()
    const order: string[] = []
    stops.push(() => void order.push('store'))
    stops.push(async () => {
      await Promise.resolve()
      order.push('engine')
    })
    await stops.unwind()
    await stops.unwind()
    expect(order).toEqual(['engine', 'store'])
  })

  // Regression: a stop that threw ended the unwind, so the store (stopped last) was never
  // flushed and closed when the sync engine or the local system failed to stop.
  it('still stops the parts started earlier when one stop throws, then throws its error', async () => {
    const stops = new StopStack()
    const order: string[] = []
    stops.push(() => void order.push('store'))
    stops.push(() => {
      throw new Error('local system would not stop')
    })
    stops.push(() => void order.push('engine'))
    await expect(stops.unwind()).rejects.toThrow('local system would not stop')
    expect(order).toEqual(['engine', 'store'])
  })
})
