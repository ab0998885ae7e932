// A local system that stops answering (a PostgreSQL server restarting, a network cut): the
// bridge says so — whether it answers, since when, why not — and logs the change once
// each way, not every poll while it is away; the edits made meanwhile are taken in after.
import { describe, expect, it } from 'vitest'
import { ObjectSyncError } from '../../src/errors.ts'
import {
  LocalSync,
  MemoryConnector,
  mappingFromConfig,
  type LocalChange,
  type LocalSystemState,
} from '../../src/local/index.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { MemoryStorage } from '../../src/store/index.ts'
import { captureLogger } from '../helpers/capture-logger.ts'
import { openStore } from '../helpers/stores.ts'

/** A local system whose server can be taken away. */
class FlakyConnector extends MemoryConnector {
  down = false
  override changesSince(cursor: number, limit?: number): Promise<LocalChange[]> {
    if (this.down) {
      return Promise.reject(
        new ObjectSyncError(
          'LOCAL_SYSTEM_IO',
          'PostgreSQL postgres://crm@db/donors: could not read the change log: connect ECONNREFUSED',
        ),
      )
    }
    return super.changesSince(cursor, limit)
  }
}

describe('a local system that stops answering', () => {
  it('is reported down with the reason, logged once each way, and caught up when back', async () => {
    const store = await openStore(new MemoryStorage(), { instanceId: 'b' as InstanceId })
    const connector = new FlakyConnector()
    const { logger, lines } = captureLogger()
    const local = new LocalSync({
      store,
      connector,
      mapping: mappingFromConfig(undefined),
      instanceId: 'b' as InstanceId,
      pollMs: 60_000,
      logger,
    })
    const changes: LocalSystemState[] = []
    local.on('local-system', (state) => changes.push(state))
    await local.start()
    expect(local.localSystem()).toMatchObject({ up: true, failures: 0, totalFailures: 0 })

    connector.down = true
    connector.edit('persons', 'p1', { id: 'p1', first_name: 'Ada', last_name: 'Lund' })
    for (let poll = 0; poll < 5; poll++) await local.settled()
    const down = local.localSystem()
    expect(down).toMatchObject({
      description: 'memory local system',
      up: false,
      failures: 5,
      totalFailures: 5,
      error: expect.stringContaining('ECONNREFUSED') as string,
    })
    expect(changes.map((state) => state.up)).toEqual([false])
    const errors = lines.filter((line) => line.level === 50)
    expect(errors.map((line) => line.msg)).toEqual([
      'the local system does not answer; trying again',
    ])

    connector.down = false
    await local.settled()
    expect(local.localSystem()).toMatchObject({ up: true, failures: 0, totalFailures: 5 })
    expect(local.localSystem().since).toBeGreaterThanOrEqual(down.since)
    expect(local.localSystem().error).toBeUndefined()
    expect(changes.map((state) => state.up)).toEqual([false, true])
    expect(lines.filter((line) => line.msg === 'the local system answers again')).toHaveLength(1)
    // The edit made while it was away is taken in.
    const persons = (await store.list('person')).items
    expect(persons.map((person) => person.fields.firstName)).toEqual(['Ada'])
    await local.stop()
  })
})
