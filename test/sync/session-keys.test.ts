// The sync layer's sync-state keys write exactly the keys and bytes that sessions wrote
// before the key table existed, and read those back: existing data folders keep working.
import { describe, expect, it } from 'vitest'
import type { InstanceId, ObjectId } from '../../src/model/index.ts'
import { MemoryStorage } from '../../src/store/index.ts'
import {
  cursorKey,
  firstSyncResume,
  peerAcked,
  receivedCursor,
  scopeSent,
  sharedMarks,
} from '../../src/sync/peer-session/session-keys.ts'
import { openStore } from '../helpers/stores.ts'

const peer = 'peer-1' as InstanceId
const object = 'object-1' as ObjectId
const text = (value: string) => new TextEncoder().encode(value)

describe('sync-layer keys', () => {
  it('write the keys and bytes of before', () => {
    expect(cursorKey(peer)).toBe('received/peer-1')
    expect(receivedCursor.entry(peer, 1234)).toEqual(['received/peer-1', text('1234')])
    expect(peerAcked.entry(peer, 7)).toEqual(['acked/peer-1', text('7')])
    expect(firstSyncResume.entry(peer, { token: '{"seq":3}', done: 50 })).toEqual([
      'first-sync/peer-1',
      text(JSON.stringify({ token: '{"seq":3}', done: 50 })),
    ])
    expect(scopeSent.entry(peer, '[["person","*",[]]]')).toEqual([
      'scope/peer-1',
      text('[["person","*",[]]]'),
    ])
    expect(sharedMarks(peer).entry(object, true)).toEqual([
      'shared/peer-1/object-1',
      Uint8Array.of(1),
    ])
    expect(sharedMarks(peer).entry(object, false)).toEqual([
      'shared/peer-1/object-1',
      Uint8Array.of(0),
    ])
    expect(firstSyncResume.entry(peer, undefined)).toEqual(['first-sync/peer-1', undefined])
  })

  it('read what was written by hand before, and an unreadable record as absent', async () => {
    const store = await openStore(new MemoryStorage())
    await store.updateSyncState([
      ['received/peer-1', text('99')],
      ['acked/peer-1', text('12')],
      ['first-sync/peer-1', text(JSON.stringify({ token: 't', done: 3 }))],
      ['first-sync/peer-2', text('{"token": 5}')],
      ['shared/peer-1/a', Uint8Array.of(1)],
      ['shared/peer-1/b', Uint8Array.of(0)],
      ['shared/peer-10/c', Uint8Array.of(1)],
    ])
    expect(await receivedCursor.read(store, peer)).toBe(99)
    expect(await peerAcked.read(store, peer)).toBe(12)
    expect(await firstSyncResume.read(store, peer)).toEqual({ token: 't', done: 3 })
    // The session reads a broken resume record as none (it starts the first sync over);
    // read without saying so, it is refused.
    expect(
      await firstSyncResume.read(store, 'peer-2' as InstanceId, { unreadable: 'absent' }),
    ).toBeUndefined()
    await expect(firstSyncResume.read(store, 'peer-2' as InstanceId)).rejects.toMatchObject({
      code: 'SYNC_STATE_CORRUPT',
    })
    const marks: [ObjectId, boolean][] = []
    for await (const entry of sharedMarks(peer).scan(store)) marks.push(entry)
    // Another peer whose id starts with this one's is not scanned with it.
    expect(marks).toEqual([
      ['a', true],
      ['b', false],
    ])
    await store.close()
  })
})
