// A local system that stops answering (a PostgreSQL server restarting, a network cut): the
// bridge says so — whether it answers, since when, why not — and logs the change once
// each way, not every poll while it is away; the edits made meanwhile are taken in after.
import { describe, expect, it } from 'vitest'
import { ObjectSyncError } from '../../src/errors.ts'
import {
  LocalSync,
  MemoryConnector,
  mappingFromConfig,
  type Connector,
  type LocalChange,
  type LocalSystemState,
} from '../../src/local/index.ts'
import type { InstanceId } from '../../src/model/index.ts'
import { MemoryStorage, type ObjectStore } from '../../src/store/index.ts'
import { createLogger, type Logger } from '../../src/log.ts'
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

/** The bridge to `connector`, polling only when a test asks (through `settled`). */
function bridge(store: ObjectStore, connector: Connector, logger: Logger): LocalSync {
  return new LocalSync({
    store,
    connector,
    mapping: mappingFromConfig(undefined),
    instanceId: 'b' as InstanceId,
    pollMs: 60_000,
    logger,
  })
}

describe('a local system that stops answering', () => {
  it('is reported down with the reason, logged once each way, and caught up when back', async () => {
    const store = await openStore(new MemoryStorage(), { instanceId: 'b' as InstanceId })
    const connector = new FlakyConnector()
    const { logger, lines } = captureLogger()
    const local = bridge(store, connector, logger)
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

describe('a local system behind the store', () => {
  it('says how many changes are still to be written into it, and logs the catch-up', async () => {
    const store = await openStore(new MemoryStorage(), { instanceId: 'b' as InstanceId })
    // What a peer's first sync or a bulk edit leaves to write: 1,200 changes.
    for (let i = 0; i < 1_200; i++) {
      await store.create({ type: 'person', fields: { firstName: `P${i}`, lastName: 'Bulk' } })
    }
    const connector = new MemoryConnector()
    // Each log line with how far behind the bridge said it was as it wrote it.
    const lines: Record<string, unknown>[] = []
    const logger = createLogger({
      level: 'debug',
      destination: {
        write: (line: string) =>
          void lines.push({
            ...(JSON.parse(line) as object),
            behindNow: local.localSystem().behind,
          }),
      },
    })
    const local: LocalSync = bridge(store, connector, logger)
    await local.start()
    // While it wrote them it said so; now it has caught up, and the rows are there.
    expect(local.localSystem()).toMatchObject({ up: true, behind: 0 })
    const written: unknown[] = []
    const personEntity = mappingFromConfig(undefined).get('person')!
    for await (const row of connector.readAll(personEntity)) written.push(row)
    expect(written).toHaveLength(1_200)
    const said = lines.filter((line) =>
      /changes into the local system|caught up/.test(String(line.msg)),
    )
    expect(said.map((line) => [line.msg, line.changes, line.behindNow])).toEqual([
      ['writing changes into the local system', store.lastSeq, store.lastSeq],
      ['local system caught up with the store', store.lastSeq, 0],
    ])
    // A few more: behind while unwritten, then 0, and too few to be logged.
    await store.create({ type: 'person', fields: { firstName: 'One', lastName: 'More' } })
    expect(local.localSystem().behind).toBe(1)
    await local.settled()
    expect(local.localSystem().behind).toBe(0)
    expect(
      lines.filter((line) => line.msg === 'writing changes into the local system'),
    ).toHaveLength(1)
    await local.stop()
    await store.close()
  })

  it('counts neither what it took in from the local system nor a refused write as written', async () => {
    const store = await openStore(new MemoryStorage(), { instanceId: 'b' as InstanceId })
    const connector = new RefusingConnector()
    for (let i = 0; i < 1_200; i++) {
      connector.edit('persons', `p${i}`, { id: `p${i}`, first_name: `P${i}`, last_name: 'Here' })
    }
    const { logger, lines } = captureLogger()
    const local = bridge(store, connector, logger)
    await local.start()
    // 1,200 rows taken in: nothing to write back, and nothing said of writing.
    expect(store.lastSeq).toBeGreaterThanOrEqual(1_200)
    expect(local.localSystem().behind).toBe(0)
    expect(lines.some((line) => line.msg === 'writing changes into the local system')).toBe(false)
    // A write the local system refuses is not "up to date": it waits to be tried again.
    connector.refuse = true
    await store.create({ type: 'person', fields: { firstName: 'Refused', lastName: 'Row' } })
    await local.settled()
    expect(local.localSystem().behind).toBe(0)
    expect(await local.waitingToRetry()).toBe(1)
    connector.refuse = false
    await local.stop()
    await store.close()
  })
})

/** A local system that refuses writes while `refuse` is set. */
class RefusingConnector extends MemoryConnector {
  refuse = false
  override write(...args: Parameters<MemoryConnector['write']>): Promise<void> {
    if (this.refuse) {
      return Promise.reject(new ObjectSyncError('LOCAL_SYSTEM_IO', 'database is locked'))
    }
    return super.write(...args)
  }

  override writeMany(
    ...args: Parameters<MemoryConnector['writeMany']>
  ): ReturnType<MemoryConnector['writeMany']> {
    if (this.refuse) {
      return Promise.reject(new ObjectSyncError('LOCAL_SYSTEM_IO', 'database is locked'))
    }
    return super.writeMany(...args)
  }
}
