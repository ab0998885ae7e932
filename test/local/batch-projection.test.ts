// Projecting a feed batch at once (batch-projection.ts): plain objects are written many
// rows to one local-system write, the rest one at a time, and a row someone edits between
// the plan and the write is taken in, never written over.
import { describe, expect, it } from 'vitest'
import {
  LocalSync,
  MemoryConnector,
  defaultEntity,
  mappingFromConfig,
  type EntityMapping,
  type ReadRecord,
  type RowWrite,
} from '../../src/local/index.ts'
import type { FacetId, InstanceId, ObjectId } from '../../src/model/index.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { anna, openStore } from '../helpers/stores.ts'

const A = 'instance-a' as InstanceId
const B = 'instance-b' as InstanceId
const persons = defaultEntity('person')

/** A local system where "another program" can write just before a batch write. */
class RacingConnector extends MemoryConnector {
  beforeBatch: (() => void) | undefined
  batches = 0
  override writeMany(
    entity: EntityMapping,
    writes: readonly RowWrite[],
  ): Promise<(ReadRecord | 'changed')[]> {
    this.batches++
    this.beforeBatch?.()
    this.beforeBatch = undefined
    return super.writeMany(entity, writes)
  }
}

/** Sends what `from` changed since `afterSeq` to `to`, as peer A would. */
async function ship(from: ObjectStore, to: ObjectStore, afterSeq = 0): Promise<void> {
  const facets = new Set((await from.readFeed(afterSeq, 100_000)).map((entry) => entry.facet))
  for (const facet of facets) {
    const changes = await from.getChangesSince(facet, (await to.getHeads(facet)) ?? [])
    if (changes !== undefined && changes.length > 0) {
      await to.applyRemoteChanges(facet, changes, A)
    }
  }
}

async function setUp() {
  const a = await openStore(new MemoryStorage(), { instanceId: A })
  const b = await openStore(new MemoryStorage(), { instanceId: B })
  const connector = new RacingConnector()
  const local = new LocalSync({
    store: b,
    connector,
    mapping: mappingFromConfig(undefined),
    instanceId: B,
    pollMs: 60_000,
  })
  await local.start()
  const stop = async () => {
    await local.stop()
    await a.close()
    await b.close()
  }
  return { a, b, connector, local, stop }
}

describe('projecting a batch', () => {
  it('writes new objects in one go, and links the one matching a local record', async () => {
    const { a, b, connector, local, stop } = await setUp()
    // B's local system has Ole already (from before pairing): his object must link to it.
    connector.edit('persons', 'ole', { id: 'ole', first_name: 'Ole', last_name: 'Dahl' })
    await local.settled()
    const made: ObjectId[] = []
    for (let i = 0; i < 30; i++) {
      const fields =
        i === 15 ? { firstName: 'Ole', lastName: 'Dahl' } : { ...anna, lastName: `L${i}` }
      made.push((await a.create({ type: 'person', fields })).id)
    }
    const items = await Promise.all(
      made.map(async (id) => {
        const facet = `${id}/core` as FacetId
        return [facet, (await a.getFacetBytes(facet))!] as const
      }),
    )
    const batchesBefore = connector.batches
    await b.applyRemoteDocuments(items, undefined, A)
    await local.settled()
    const rows: string[] = []
    for await (const row of connector.readAll(persons)) rows.push(String(row.id))
    // 29 rows written for arriving objects, Ole's object linked to his row: no duplicate.
    expect(rows.length).toBe(30)
    expect(rows).toContain('ole')
    expect(rows.filter((key) => made.includes(key as ObjectId)).length).toBe(29)
    // In batches (here: before Ole, and after), not row by row.
    expect(connector.batches - batchesBefore).toBeLessThanOrEqual(3)
    await stop()
  })

  it('takes in a local edit made between the plan and the write, and writes the merge', async () => {
    const { a, b, connector, local, stop } = await setUp()
    const made = await a.create({ type: 'person', fields: anna })
    await ship(a, b)
    await local.settled()
    expect((await connector.read(persons, made.id))?.first_name).toBe('Anna')
    const seq = a.lastSeq
    await a.update(made.id, { fields: { title: 'Chair' } })
    // Someone edits the row just before the daemon writes A's change into it.
    const row = (await connector.read(persons, made.id))!
    connector.beforeBatch = () => connector.edit('persons', made.id, { ...row, phone: '+47 999' })
    await ship(a, b, seq)
    await local.settled()
    const object = await b.get(made.id)
    expect(object?.fields).toMatchObject({ title: 'Chair', phone: '+47 999' })
    expect(await connector.read(persons, made.id)).toMatchObject({
      title: 'Chair',
      phone: '+47 999',
    })
    await stop()
  })

  it("links the second of two matching new objects in one batch to the first one's row", async () => {
    const { a, b, connector, local, stop } = await setUp()
    // One person made at A and again at C (another instance, relayed through A).
    const c = await openStore(new MemoryStorage(), { instanceId: 'instance-c' as InstanceId })
    const kari = { firstName: 'Kari', lastName: 'Nord', email: 'kari@example.org' }
    const made = [
      await a.create({ type: 'person', fields: kari }),
      await c.create({ type: 'person', fields: kari }),
    ]
    const items = [
      [`${made[0]!.id}/core`, (await a.getFacetBytes(`${made[0]!.id}/core` as FacetId))!],
      [`${made[1]!.id}/core`, (await c.getFacetBytes(`${made[1]!.id}/core` as FacetId))!],
    ] as [FacetId, Uint8Array][]
    await b.applyRemoteDocuments(items, undefined, A)
    await local.settled()
    const rows: string[] = []
    for await (const row of connector.readAll(persons)) rows.push(String(row.id))
    expect(rows).toHaveLength(1)
    expect(b.survivorOf(made[0]!.id)).toBe(b.survivorOf(made[1]!.id))
    await c.close()
    await stop()
  })
})

describe('a first run cut short', () => {
  it('matches against the rows it took in before it stopped', async () => {
    const { a, b, connector, local, stop } = await setUp()
    connector.edit('persons', 'ole', { id: 'ole', first_name: 'Ole', last_name: 'Dahl' })
    await local.settled()
    await local.stop()
    // As if the first run had stopped before it was done: it runs again at the next start.
    await b.updateSyncState([['local/initialized', undefined]])
    const again = new LocalSync({
      store: b,
      connector,
      mapping: mappingFromConfig(undefined),
      instanceId: B,
      pollMs: 60_000,
    })
    await again.start()
    await a.create({ type: 'person', fields: { firstName: 'Ole', lastName: 'Dahl' } })
    await ship(a, b)
    await again.settled()
    const rows: string[] = []
    for await (const row of connector.readAll(persons)) rows.push(String(row.id))
    expect(rows).toEqual(['ole'])
    await again.stop()
    await stop()
  })
})
