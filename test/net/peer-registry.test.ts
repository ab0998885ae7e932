import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { encodePairKey, generatePairKey } from '../../src/crypto/index.ts'
import { isObjectSyncError } from '../../src/errors.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { PeerRegistry, directoryFiles, memoryFiles } from '../../src/net/index.ts'

async function loadError(
  files: Record<string, string>,
): Promise<{ code: unknown; message: string }> {
  const registry = new PeerRegistry(memoryFiles(files))
  return registry.load().then(
    () => ({ code: 'none', message: '' }),
    (error: unknown) => ({
      code: isObjectSyncError(error) ? error.code : error,
      message: (error as Error).message,
    }),
  )
}

describe('the peer registry', () => {
  it('refuses a malformed peers.json naming the file, the field and what was expected', async () => {
    expect(await loadError({ 'peers.json': '{ "peers": [' })).toMatchObject({
      code: 'INVALID_PEERS_FILE',
      message: expect.stringContaining('peers.json: not valid JSON') as string,
    })
    const missingKey = await loadError({
      'peers.json': JSON.stringify({ peers: [{ id: 'x', name: 'X', addresses: [] }] }),
    })
    expect(missingKey.code).toBe('INVALID_PEERS_FILE')
    expect(missingKey.message).toContain('peers.json: peers[0].key:')
    const badAddresses = await loadError({
      'peers.json': JSON.stringify({
        peers: [{ id: 'x', name: 'X', addresses: 'here', key: 'k' }],
      }),
    })
    expect(badAddresses.message).toContain('peers[0].addresses')
  })

  it('a failed load keeps what was loaded before', async () => {
    const files = memoryFiles()
    const registry = new PeerRegistry(files)
    await registry.add(
      { id: 'peer-1' as InstanceId, name: 'One', addresses: [] },
      { current: generatePairKey() },
    )
    files.files.set('peers.json', 'garbage')
    await expect(registry.load()).rejects.toMatchObject({ code: 'INVALID_PEERS_FILE' })
    expect(registry.has('peer-1' as InstanceId)).toBe(true)
  })

  it('refuses a malformed key file, naming it', async () => {
    const peers = JSON.stringify({
      peers: [{ id: 'p', name: 'Partner', addresses: [], key: 'keys/p.key' }],
    })
    for (const content of [
      '',
      'not base64 at all',
      encodePairKey(generatePairKey()).slice(0, 20),
    ]) {
      const registry = new PeerRegistry(memoryFiles({ 'peers.json': peers, 'keys/p.key': content }))
      await registry.load()
      const error = await registry.keys('p' as InstanceId).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(isObjectSyncError(error, 'INVALID_PEERS_FILE')).toBe(true)
      expect(error?.message).toContain('keys/p.key (key of Partner)')
    }
  })

  it('keeps fields it does not know (scope, actions) when it rewrites peers.json', async () => {
    const key = encodePairKey(generatePairKey())
    const files = memoryFiles({
      'peers.json': JSON.stringify({
        peers: [
          {
            id: 'p',
            name: 'P',
            addresses: [],
            key: 'keys/p.key',
            share: { person: { roles: ['partner'] } },
          },
        ],
      }),
      'keys/p.key': key,
    })
    const registry = new PeerRegistry(files)
    await registry.load()
    await registry.add(
      { id: 'q' as InstanceId, name: 'Q', addresses: [] },
      { current: generatePairKey() },
    )
    const written = JSON.parse(files.files.get('peers.json')!)
    expect(written.peers[0]).toEqual({
      id: 'p',
      name: 'P',
      addresses: [],
      key: 'keys/p.key',
      share: { person: { roles: ['partner'] } },
    })
    expect(written.peers[1]).toMatchObject({ id: 'q', key: 'keys/peer-q.key' })
    expect(await registry.remove('q' as InstanceId)).toBe(true)
    expect(files.files.has('keys/peer-q.key')).toBe(false)
    expect(await registry.remove('q' as InstanceId)).toBe(false)
  })
})

describe('the files of a data folder', () => {
  it('are never read half-written, even with writes of one file at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'objectsync-files-'))
    const files = directoryFiles(dir)
    const contents = Array.from({ length: 40 }, (_, i) => `${String(i).repeat(20_000)}\n`)
    const seen: (string | undefined)[] = []
    let writing = true
    const reader = (async () => {
      while (writing) {
        seen.push(await files.read('keys/peer-q.key'))
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    await Promise.all(contents.map((text) => files.write('keys/peer-q.key', text)))
    writing = false
    await reader
    const final = await files.read('keys/peer-q.key')
    expect(contents).toContain(final)
    for (const text of seen) if (text !== undefined) expect(contents).toContain(text)
    expect(readdirSync(join(dir, 'keys'))).toEqual(['peer-q.key'])
    rmSync(dir, { recursive: true, force: true })
  })
})
