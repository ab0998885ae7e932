// GET /v1/merges of a running daemon: the merges its store holds, the last decided first,
// with who decided (this instance by name, a peer not paired here without one) and when,
// both records' names; a merge and its undoing streamed as `merge` events; a bad query
// refused in the API's error format.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Daemon } from '../daemon/run.ts'
import type { InstanceId, ObjectId } from '../src/model/index.ts'
import { MemoryStorage } from '../src/store/index.ts'
import { callApi, startTestDaemon } from './helpers/daemons.ts'
import { readEvents } from './helpers/events.ts'
import { openStore, ship } from './helpers/stores.ts'
import { eventually } from './helpers/sync-nodes.ts'

let daemon: Daemon
let token: string

beforeAll(async () => {
  ;({ daemon, token } = await startTestDaemon('Merge office'))
})
afterAll(async () => {
  await daemon.stop()
})

interface MergeJson {
  id: string
  type: string
  into: string
  at: string | null
  by: string | null
  byName: string | null
  name: string | null
  intoName: string | null
}

const call = (method: 'GET' | 'POST', url: string, body?: unknown) =>
  callApi({ daemon, token }, method, url, { body })

async function merges(query = ''): Promise<MergeJson[]> {
  const response = await call('GET', `/v1/merges${query}`)
  expect(response.status).toBe(200)
  return response.json.merges as MergeJson[]
}

async function person(firstName: string, lastName: string): Promise<ObjectId> {
  const created = await call('POST', '/v1/objects', {
    type: 'person',
    fields: { firstName, lastName },
  })
  return created.json.id as ObjectId
}

describe('GET /v1/merges', () => {
  it('lists merges the last decided first, with who decided and both names; an undone one goes', async () => {
    const names = new Map([
      [await person('Kari', 'Nordmann'), 'Kari Nordmann'],
      [await person('Kari', 'Nordman'), 'Kari Nordman'],
    ])
    const [small, large] = [...names.keys()].sort() as [ObjectId, ObjectId]
    const started = Date.now()
    expect((await call('POST', `/v1/objects/${large}/merge`, { with: small })).status).toBe(200)
    const [first] = await merges()
    expect(first).toMatchObject({
      id: large,
      type: 'person',
      into: small,
      by: daemon.instance.id,
      byName: 'Merge office',
      name: names.get(large),
      intoName: names.get(small),
    })
    expect(Date.parse(first!.at!)).toBeGreaterThanOrEqual(started - 1)

    const org = async (name: string) =>
      (await call('POST', '/v1/objects', { type: 'organization', fields: { name } })).json
        .id as ObjectId
    const [orgSmall, orgLarge] = [await org('Ola AS'), await org('Ola A/S')].sort()
    await call('POST', `/v1/objects/${orgSmall}/merge`, { with: orgLarge })
    expect((await merges()).map((merge) => merge.id)).toEqual([orgLarge, large])
    expect(await merges('?limit=1')).toMatchObject([{ id: orgLarge, type: 'organization' }])

    expect((await call('POST', `/v1/objects/${orgLarge}/unmerge`)).status).toBe(200)
    expect((await merges()).map((merge) => merge.id)).toEqual([large])
  })

  it('lists a merge decided by an instance not paired here, without a name for it', async () => {
    const stranger = 'instance-not-paired' as InstanceId
    const peer = await openStore(new MemoryStorage(), { instanceId: stranger, clock: () => 5_000 })
    const names = new Map<ObjectId, string>()
    for (const firstName of ['Per', 'Pål']) {
      const made = await peer.create({ type: 'person', fields: { firstName, lastName: 'Peer' } })
      names.set(made.id, `${firstName} Peer`)
    }
    // Ids made in one millisecond sort at random: the names go with the ids.
    const [small, large] = [...names.keys()].sort() as [ObjectId, ObjectId]
    await peer.merge(small, large)
    await ship(peer, daemon.instance.store)
    await peer.close()
    const found = (await merges()).find((merge) => merge.id === large)
    expect(found).toEqual({
      id: large,
      type: 'person',
      into: small,
      at: new Date(5_000).toISOString(),
      by: stranger,
      byName: null,
      name: names.get(large),
      intoName: names.get(small),
    })
  })

  it('streams a merge and its undoing as merge events', async () => {
    const controller = new AbortController()
    const response = await fetch(`http://127.0.0.1:${daemon.apiPort}/v1/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    })
    const events = readEvents(response)
    const [small, large] = [await person('Siri', 'Dahl'), await person('Siri', 'Dal')].sort()
    await call('POST', `/v1/objects/${small}/merge`, { with: large })
    await events.until((event) => event.event === 'merge')
    await call('POST', `/v1/objects/${large}/unmerge`)
    await eventually(
      () => events.seen.filter((event) => event.event === 'merge').length === 2,
      10_000,
    )
    expect(events.seen.filter((event) => event.event === 'merge')).toEqual([
      { event: 'merge', data: { id: large } },
      { event: 'merge', data: { id: large } },
    ])
    controller.abort()
    await eventually(() => daemon.events.listenerCount === 0)
  })

  it('refuses a bad query in the API error format, and changes nothing', async () => {
    const before = daemon.instance.store.lastSeq
    const listed = await merges()
    for (const [query, message] of [
      ['?limit=0', 'query.limit'],
      ['?limit=501', 'query.limit'],
      ['?limit=many', 'query.limit'],
      ['?colour=red', 'query: unknown "colour"'],
    ]) {
      const response = await call('GET', `/v1/merges${query}`)
      expect({ query, status: response.status }).toEqual({ query, status: 400 })
      const error = (response.json as { error: { code: string; message: string } }).error
      expect(error.code).toBe('INVALID_REQUEST')
      expect(error.message).toContain(message)
    }
    expect(daemon.instance.store.lastSeq).toBe(before)
    expect(await merges()).toEqual(listed)
  })
})
