// The per-peer ledger of file transfers: what is under way, totals each way, failures,
// and a rate that forgets what is older than its window.
import { describe, expect, it } from 'vitest'
import type { InstanceId, ObjectId } from '../../src/model/index.ts'
import {
  FileTransferStats,
  OUTGOING_IDLE_MS,
  RATE_WINDOW_SECONDS,
} from '../../src/sync/blob-transfer/transfer-stats.ts'

const north = 'north' as InstanceId
const south = 'south' as InstanceId
const file = 'file-1' as ObjectId

function ledger(start = 100_000) {
  const time = { now: start }
  return { stats: new FileTransferStats({ clock: () => time.now }), time }
}

describe('file transfer stats', () => {
  it('shows transfers under way per peer, and keeps their bytes once they end', () => {
    const { stats } = ledger()
    const fetching = stats.begin(north, { file, sha256: 'aa', direction: 'in' })
    const serving = stats.begin(north, { file, sha256: 'bb', direction: 'out', size: 900 })
    expect(stats.of(north).active).toEqual([
      { file, sha256: 'aa', direction: 'in', bytes: 0, size: null },
      { file, sha256: 'bb', direction: 'out', bytes: 0, size: 900 },
    ])
    fetching.sized(600)
    fetching.moved(256)
    fetching.moved(256)
    serving.moved(300)
    expect(stats.of(north).active).toEqual([
      { file, sha256: 'aa', direction: 'in', bytes: 512, size: 600 },
      { file, sha256: 'bb', direction: 'out', bytes: 300, size: 900 },
    ])
    fetching.end('done')
    expect(fetching.ended).toBe(true)
    expect(stats.of(north)).toMatchObject({
      active: [{ sha256: 'bb', direction: 'out', bytes: 300 }],
      bytesIn: 512,
      bytesOut: 300,
      failed: 0,
    })
    // Another peer's figures are its own.
    expect(stats.of(south)).toEqual({
      active: [],
      bytesIn: 0,
      bytesOut: 0,
      rateIn: 0,
      rateOut: 0,
      failed: 0,
    })
  })

  it('counts a failed transfer once, and nothing moved after its end', () => {
    const { stats } = ledger()
    const transfer = stats.begin(north, { file, sha256: 'aa', direction: 'in' })
    transfer.moved(100)
    transfer.end('failed')
    transfer.end('failed')
    transfer.end('done')
    transfer.moved(5000)
    stats.begin(north, { file, sha256: 'bb', direction: 'in' }).end('done')
    expect(stats.of(north)).toMatchObject({ active: [], bytesIn: 100, failed: 1 })
  })

  it('measures the rate over the last few seconds only', () => {
    const { stats, time } = ledger(10_000)
    const transfer = stats.begin(north, { file, sha256: 'aa', direction: 'in' })
    // 5,000 bytes in the middle of each second from 10 s to 19 s.
    for (let second = 10; second < 20; second++) {
      time.now = second * 1000 + 500
      transfer.moved(5000)
    }
    time.now = 20_000
    expect(RATE_WINDOW_SECONDS).toBe(5)
    // Seconds 16 to 19 moved 20,000 bytes; second 20 has just begun.
    expect(stats.of(north)).toMatchObject({ rateIn: 5000, rateOut: 0, bytesIn: 50_000 })
    time.now = 20_000 + RATE_WINDOW_SECONDS * 1000
    expect(stats.of(north)).toMatchObject({ rateIn: 0, bytesIn: 50_000 })
  })

  it('keeps the rate to its window however much moved before', () => {
    const { stats, time } = ledger(0)
    const transfer = stats.begin(north, { file, sha256: 'aa', direction: 'out' })
    // 100 s of 100-byte chunks every 10 ms: 10,000 bytes a second, 1 MB in all.
    for (let tick = 0; tick < 10_000; tick++) {
      time.now = tick * 10
      transfer.moved(100)
    }
    time.now = 100_000
    expect(stats.of(north)).toMatchObject({ rateOut: 10_000, bytesOut: 1_000_000 })
    // Half the pace now: the window shows it within its length.
    for (let tick = 0; tick < 500; tick++) {
      time.now = 100_000 + tick * 10
      transfer.moved(50)
    }
    time.now = 105_000
    expect(stats.of(north).rateOut).toBe(5000)
  })

  it('ends an outgoing transfer that went quiet, without counting it failed; incoming ones stay', () => {
    const { stats, time } = ledger()
    const serving = stats.begin(north, { file, sha256: 'aa', direction: 'out', size: 1000 })
    const fetching = stats.begin(north, { file, sha256: 'bb', direction: 'in' })
    serving.moved(400)
    time.now += OUTGOING_IDLE_MS
    expect(stats.of(north).active).toHaveLength(2)
    time.now += 1
    expect(stats.of(north)).toMatchObject({
      active: [{ sha256: 'bb', direction: 'in' }],
      bytesOut: 400,
      failed: 0,
    })
    expect(serving.ended).toBe(true)
    expect(fetching.ended).toBe(false)
  })

  it('forgets an unpaired peer, and what its open transfers move after', () => {
    const { stats } = ledger()
    const transfer = stats.begin(north, { file, sha256: 'aa', direction: 'in' })
    transfer.moved(10)
    stats.forget(north)
    transfer.moved(10)
    transfer.end('failed')
    expect(stats.of(north)).toMatchObject({ active: [], bytesIn: 0, failed: 0 })
  })
})
