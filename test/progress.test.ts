// What `start` prints while a first sync or a large import runs: bars on a terminal,
// plain lines (at most one per task every few seconds) otherwise.
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import {
  PLAIN_LINE_INTERVAL_MS,
  SHOWN_FROM_FACETS,
  createProgressReporter,
  type ProgressOutput,
} from '../daemon/progress.ts'

function output(tty: boolean): ProgressOutput & { text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number }
  if (tty) {
    stream.isTTY = true
    stream.columns = 100
  }
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
  return Object.assign(stream, { text: () => text })
}

describe('progress while starting', () => {
  it('prints plain lines without a terminal: the first at once, then one per interval, then the end', () => {
    const out = output(false)
    let now = 0
    const reporter = createProgressReporter(out, () => now)
    const total = SHOWN_FROM_FACETS * 4
    reporter.sync('South office', { total, done: 100, caughtUp: false })
    reporter.sync('South office', { total, done: 200, caughtUp: false })
    now += PLAIN_LINE_INTERVAL_MS
    reporter.sync('South office', { total, done: 1500, caughtUp: false })
    reporter.sync('South office', { total, done: total, caughtUp: true })
    reporter.ingest('persons', 500, false)
    reporter.ingest('persons', 3000, false)
    reporter.ingest('persons', 3210, true)
    reporter.stop()
    expect(out.text().split('\n').filter(Boolean)).toEqual([
      `sync with South office: 100/${total}`,
      `sync with South office: 1500/${total}`,
      `sync with South office: caught up (${total} received)`,
      'import persons: 3000 rows',
      'import persons: 3210 rows, done',
    ])
    expect(out.text()).not.toContain('\u001b[')
  })

  it('says nothing of a catch-up or a table too small to matter', () => {
    const out = output(false)
    const reporter = createProgressReporter(out)
    reporter.sync('South office', { total: 10, done: 3, caughtUp: false })
    reporter.sync('South office', { total: 10, done: 10, caughtUp: true })
    reporter.ingest('persons', 12, true)
    expect(out.text()).toBe('')
  })

  it('draws a bar per task on a terminal', () => {
    const out = output(true)
    const reporter = createProgressReporter(out)
    const total = SHOWN_FROM_FACETS * 2
    reporter.sync('South office', { total, done: total / 2, caughtUp: false })
    reporter.ingest('persons', 2000, false)
    reporter.sync('South office', { total, done: total, caughtUp: true })
    reporter.ingest('persons', 2500, true)
    reporter.stop()
    const text = out.text()
    expect(text).toContain(`sync South office [`)
    expect(text).toContain(`${total}/${total}`)
    expect(text).toContain('import persons: 2500 rows')
    // Drawn with cursor movement, not as lines.
    expect(text).toContain('\u001b[')
  })
})
