// The compare of every table after the change capture was lost: a failing one stays noted
// and is tried again later, while the changes logged meanwhile are taken in as usual.
import { describe, expect, it } from 'vitest'
import {
  LocalSync,
  MemoryConnector,
  mappingFromConfig,
  type EntityMapping,
  type LocalRow,
} from '../../src/local/index.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { MemoryStorage } from '../../src/store/index.ts'
import { openStore } from '../helpers/stores.ts'

/** A local system that reports its change capture lost once, and can't be read whole. */
class LosingConnector extends MemoryConnector {
  lost = true
  unreadable = true
  repairChangeCapture(): Promise<'intact' | 'triggers' | 'log'> {
    const lost = this.lost
    this.lost = false
    return Promise.resolve(lost ? 'triggers' : 'intact')
  }
  override readAll(entity: EntityMapping): AsyncIterable<LocalRow> {
    if (this.unreadable) throw new Error('disk on fire')
    return super.readAll(entity)
  }
}

describe('a compare that fails', () => {
  it('stays noted, and edits logged meanwhile are taken in', async () => {
    const store = await openStore(new MemoryStorage(), { instanceId: 'b' as InstanceId })
    const connector = new LosingConnector()
    connector.unreadable = false
    const local = new LocalSync({
      store,
      connector,
      mapping: mappingFromConfig(undefined),
      instanceId: 'b' as InstanceId,
      pollMs: 60_000,
    })
    connector.lost = false
    await local.start()
    connector.lost = true
    connector.unreadable = true
    connector.edit('persons', 'p1', { id: 'p1', first_name: 'Ada', last_name: 'Lund' })
    await local.settled()
    const names = (await store.list('person')).items.map((object) => object.fields.firstName)
    expect(names).toEqual(['Ada'])
    expect(await store.getSyncState('local/compare-needed')).toBeDefined()
    await local.stop()
    await store.close()
  })
})
