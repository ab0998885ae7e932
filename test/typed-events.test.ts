import { describe, expect, it } from 'vitest'
import { TypedEvents } from '../src/typed-events.ts'
import { captureLogger } from './helpers/capture-logger.ts'

interface TestEvents extends Record<string, unknown[]> {
  change: [id: string, count: number]
  other: []
}

describe('TypedEvents', () => {
  it('calls listeners in order with the arguments, until unsubscribed', () => {
    const events = new TypedEvents<TestEvents>()
    const calls: string[] = []
    const stopFirst = events.on('change', (id, count) => calls.push(`1:${id}:${count}`))
    events.on('change', (id) => calls.push(`2:${id}`))
    events.emit('change', 'a', 1)
    stopFirst()
    events.emit('change', 'b', 2)
    events.emit('other')
    expect(calls).toEqual(['1:a:1', '2:a', '2:b'])
    expect(events.listenerCount('change')).toBe(1)
  })

  it('isolates a listener that throws or rejects: the others run and emit returns', async () => {
    const { logger, lines } = captureLogger()
    const events = new TypedEvents<TestEvents>(logger)
    const calls: string[] = []
    events.on('change', () => {
      throw new Error('broken subscriber')
    })
    events.on('change', () => Promise.reject(new Error('broken async subscriber')))
    events.on('change', (id) => {
      calls.push(id)
    })
    expect(() => events.emit('change', 'x', 0)).not.toThrow()
    expect(calls).toEqual(['x'])
    await new Promise((resolve) => setImmediate(resolve))
    const errors = lines.filter((line) => line.msg === 'event listener threw')
    expect(errors).toHaveLength(2)
    expect(errors.every((line) => line.event === 'change')).toBe(true)
  })

  it('does not call a listener added during an emit in that same emit', () => {
    const events = new TypedEvents<TestEvents>()
    const calls: string[] = []
    events.on('other', () => {
      calls.push('first')
      events.on('other', () => calls.push('late'))
    })
    events.emit('other')
    expect(calls).toEqual(['first'])
  })

  it('needs one unsubscribe per subscription of the same function', () => {
    const events = new TypedEvents<TestEvents>()
    let calls = 0
    const listener = () => {
      calls++
    }
    const stopA = events.on('other', listener)
    events.on('other', listener)
    stopA()
    events.emit('other')
    expect(calls).toBe(1)
  })

  it('clear drops every listener', () => {
    const events = new TypedEvents<TestEvents>()
    let calls = 0
    events.on('other', () => calls++)
    events.on('change', () => calls++)
    events.clear()
    events.emit('other')
    events.emit('change', 'a', 1)
    expect(calls).toBe(0)
    expect(events.listenerCount('other')).toBe(0)
  })
})
