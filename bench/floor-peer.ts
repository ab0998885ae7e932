// The receiving side of the floor benchmark (bench/floor.ts): accepts one TCP connection
// on loopback, opens each sealed frame, writes its records to LevelDB in one batch, and
// answers one byte once the last frame (an empty one) has been written.
//   floor-peer.ts <dir> <keyBase64>
// Prints "port <n>" once listening, and "rss <MB>" as it exits.
import { createServer } from 'node:net'
import { Level } from 'level'
import nacl from 'tweetnacl'
import { readRecords, readSealedFrames } from './floor-frames.ts'

const [dir, keyText] = process.argv.slice(2) as [string, string]
const key = new Uint8Array(Buffer.from(keyText, 'base64'))
const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
await db.open()

const server = createServer((socket) => {
  void (async () => {
    for await (const sealed of readSealedFrames(socket)) {
      const opened = nacl.secretbox.open(sealed.box, sealed.nonce, key)
      if (opened === null) throw new Error('a frame did not open')
      if (opened.length === 0) {
        // Answered before leaving the loop, which closes the socket.
        await new Promise<void>((resolve) => socket.write(new Uint8Array([1]), () => resolve()))
        break
      }
      const batch = db.batch()
      for (const [recordKey, value] of readRecords(opened)) batch.put(recordKey, value)
      await batch.write()
    }
    server.close()
    await db.close()
    process.stdout.write(`rss ${Math.round(process.resourceUsage().maxRSS / 1024)}\n`)
  })().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  })
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  process.stdout.write(`port ${address.port}\n`)
})
