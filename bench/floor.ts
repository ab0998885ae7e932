// The physical floor for a first sync on this machine: the same persons' bytes read from
// LevelDB, sealed (tweetnacl secretbox, as objectsync's frames are), sent over loopback
// TCP to a second process, opened and written to its LevelDB — with no CRDT, no sync
// protocol and no libp2p. objectsync's first sync is compared with it (`npm run bench`).
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Level } from 'level'
import nacl from 'tweetnacl'
import { encodeRecords, sealedFrame } from './floor-frames.ts'
import { person } from './people.ts'
import { childLines } from './child-lines.ts'

export interface FloorResult {
  floorPersons: number
  floorSeconds: number
  floorMBps: number
  /** The records' bytes (keys and JSON values), MB. */
  floorMb: number
  floorPeakRssMbReceiver: number
}

/** About the size of objectsync's sync batches. */
const FRAME_PAYLOAD_BYTES = 256 * 1024
const root = fileURLToPath(new URL('..', import.meta.url))

export async function runFloorBench(count: number): Promise<FloorResult> {
  const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-floor-'))
  const source = new Level<string, Uint8Array>(join(dir, 'a'), { valueEncoding: 'view' })
  const encoder = new TextEncoder()
  try {
    await source.open()
    // Not timed: the sender's records, as JSON, in LevelDB.
    for (let start = 0; start < count; start += 1000) {
      const batch = source.batch()
      for (let i = start; i < Math.min(count, start + 1000); i++) {
        const value = encoder.encode(JSON.stringify({ type: 'person', fields: person(i) }))
        batch.put(`person/${String(i).padStart(26, '0')}`, value)
      }
      await batch.write()
    }
    const key = randomBytes(32)
    const receiver = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/floor-peer.ts', join(dir, 'b'), key.toString('base64')],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const { next } = childLines(receiver)
    try {
      const port = Number((await next('port ')).slice('port '.length))
      const socket = connect(port, '127.0.0.1')
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
      const answered = new Promise<void>((resolve, reject) => {
        socket.once('data', () => resolve())
        socket.once('error', reject)
        socket.once('close', () => reject(new Error('the receiver closed the connection')))
      })
      answered.catch(() => undefined)
      const began = performance.now()
      let bytes = 0
      const send = async (payload: Uint8Array) => {
        const nonce = nacl.randomBytes(nacl.secretbox.nonceLength)
        const box = nacl.secretbox(payload, nonce, key)
        if (!socket.write(sealedFrame(nonce, box))) {
          await new Promise((resolve) => socket.once('drain', resolve))
        }
      }
      let records: [Uint8Array, Uint8Array][] = []
      let size = 0
      for await (const [recordKey, value] of source.iterator()) {
        const keyBytes = encoder.encode(recordKey)
        records.push([keyBytes, value])
        size += keyBytes.length + value.length + 8
        bytes += keyBytes.length + value.length
        if (size >= FRAME_PAYLOAD_BYTES) {
          await send(encodeRecords(records))
          records = []
          size = 0
        }
      }
      if (records.length > 0) await send(encodeRecords(records))
      await send(new Uint8Array(0))
      await answered
      const seconds = (performance.now() - began) / 1000
      socket.destroy()
      const rss = Number((await next('rss ')).slice('rss '.length))
      return {
        floorPersons: count,
        floorSeconds: Math.round(seconds * 1000) / 1000,
        floorMBps: Math.round(bytes / 1e6 / seconds),
        floorMb: Math.round(bytes / 1e5) / 10,
        floorPeakRssMbReceiver: rss,
      }
    } finally {
      receiver.kill('SIGKILL')
    }
  } finally {
    await source.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
