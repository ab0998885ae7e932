// GET /v1/objects/:id/history on two paired daemons: a record created at A and edited at
// B reads the same at both, each change by its writer's name as each instance knows it,
// after a restart too; deletes and merges appear; pages by cursor; an unknown id is 404;
// GET /v1/objects?q= finds records by name across types.
import { execFile } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../daemon/config.ts'
import { runDaemon } from '../daemon/run.ts'
import { silentLogger } from '../src/log.ts'
import { callApi, startTestDaemon, type TestDaemon } from './helpers/daemons.ts'
import { eventually } from './helpers/sync-nodes.ts'

interface EntryJson {
  id: string
  at: string
  by: { id: string | null; name: string | null }
  change: string
  fields: Record<string, { from: unknown; to: unknown }>
  custom: Record<string, Record<string, { from: unknown; to: unknown }>>
  object?: string
  into?: string
}
interface HistoryJson {
  id: string
  entries: EntryJson[]
  next: string | null
}

let north: TestDaemon
let south: TestDaemon

beforeAll(async () => {
  ;[north, south] = await Promise.all([
    startTestDaemon('North <b>office</b>'),
    startTestDaemon('South office'),
  ])
  const invite = await callApi<{ token: string }>(north, 'POST', '/v1/invites', { body: {} })
  const paired = await callApi(south, 'POST', '/v1/pair', { body: { token: invite.json.token } })
  expect(paired.status).toBe(201)
}, 30_000)
afterAll(async () => {
  await Promise.all([north, south].map((each) => each.daemon.stop()))
})

const history = async (at: TestDaemon, id: string, query = '') => {
  const response = await callApi<HistoryJson>(at, 'GET', `/v1/objects/${id}/history${query}`)
  expect(response.status).toBe(200)
  return response.json
}

/** What an entry says, without its time (the daemons' clocks run on). */
const said = (entry: EntryJson) => ({
  by: entry.by,
  change: entry.change,
  fields: entry.fields,
  custom: entry.custom,
  ...(entry.object === undefined ? {} : { object: entry.object }),
})

describe('GET /v1/objects/:id/history', () => {
  it('reads the same at both instances, each writer by name, after a restart too', async () => {
    const created = await callApi<{ id: string }>(north, 'POST', '/v1/objects', {
      body: {
        type: 'person',
        fields: { firstName: 'Ingrid', lastName: 'Moe' },
        custom: { shoeSize: '39' },
      },
    })
    const id = created.json.id
    await eventually(
      async () => (await callApi(south, 'GET', `/v1/objects/${id}`)).status === 200,
      15_000,
    )
    const edited = await callApi(south, 'PATCH', `/v1/objects/${id}`, {
      body: { fields: { lastName: 'Moe-Berg' } },
    })
    expect(edited.status).toBe(200)
    await eventually(async () => (await history(north, id)).entries.length === 2, 15_000)

    const northId = north.daemon.instance.id
    const southId = south.daemon.instance.id
    const expected = [
      {
        by: { id: northId, name: 'North <b>office</b>', verified: true },
        change: 'create',
        fields: { firstName: { from: null, to: 'Ingrid' }, lastName: { from: null, to: 'Moe' } },
        custom: { other: { shoeSize: { from: null, to: '39' } } },
      },
      {
        by: { id: southId, name: 'South office', verified: true },
        change: 'edit',
        fields: { lastName: { from: 'Moe', to: 'Moe-Berg' } },
        custom: {},
      },
    ]
    const atNorth = await history(north, id)
    const atSouth = await history(south, id)
    expect(atNorth.entries.map(said)).toEqual(expected)
    expect(atSouth.entries).toEqual(atNorth.entries)
    expect(atNorth).toMatchObject({ id, next: null, omitted: 0 })
    expect(Date.parse(atNorth.entries[1]!.at)).toBeGreaterThanOrEqual(
      Date.parse(atNorth.entries[0]!.at),
    )

    // The object names who last wrote each field, and the row that stands for it here.
    await eventually(async () => {
      const object = await callApi<{ local: unknown }>(north, 'GET', `/v1/objects/${id}`)
      return object.json.local !== null
    }, 15_000)
    const object = await callApi<Record<string, unknown>>(north, 'GET', `/v1/objects/${id}`)
    expect(object.json).toMatchObject({
      label: 'Ingrid Moe-Berg',
      customGroups: { other: ['shoeSize'] },
      written: {
        firstName: { by: { id: northId, name: 'North <b>office</b>' } },
        lastName: { by: { id: southId, name: 'South office' }, at: atNorth.entries[1]!.at },
      },
      local: { table: 'persons', key: expect.any(String) },
    })

    // After a restart the history is read again from the stored documents.
    const { dir } = south
    await south.daemon.stop()
    south = {
      ...south,
      daemon: await runDaemon(
        dir,
        parseConfig({ name: 'South office', listen: ['/ip4/127.0.0.1/tcp/0'], api: { port: 0 } }),
        silentLogger,
      ),
    }
    expect((await history(south, id)).entries).toEqual(atNorth.entries)
  }, 40_000)

  it('shows deletes and merges, pages back by cursor, and answers 404 for an unknown id', async () => {
    const person = async (firstName: string) =>
      (
        await callApi<{ id: string }>(north, 'POST', '/v1/objects', {
          body: { type: 'person', fields: { firstName, lastName: 'Lund' } },
        })
      ).json.id
    const [small, large] = [await person('Per'), await person('Per')].sort() as [string, string]
    for (const title of ['a', 'b', 'c']) {
      await callApi(north, 'PATCH', `/v1/objects/${small}`, { body: { fields: { title } } })
    }
    await callApi(north, 'POST', `/v1/objects/${large}/merge`, { body: { with: small } })
    const whole = await history(north, small)
    expect(whole.entries.map((entry) => [entry.change, entry.object ?? 'itself'])).toEqual([
      ['create', 'itself'],
      ['create', large],
      ['edit', 'itself'],
      ['edit', 'itself'],
      ['edit', 'itself'],
      ['merge', large],
    ])
    expect(whole.entries.at(-1)).toMatchObject({ into: small })

    const latest = await history(north, small, '?limit=4')
    expect(latest.entries).toEqual(whole.entries.slice(2))
    const older = await history(north, small, `?limit=4&before=${latest.next}`)
    expect(older).toMatchObject({ entries: whole.entries.slice(0, 2), next: null })

    expect((await callApi(north, 'DELETE', `/v1/objects/${small}`)).status).toBe(204)
    expect((await history(north, small)).entries.at(-1)).toMatchObject({
      change: 'delete',
      fields: {},
    })

    const reads = async () => {
      const response = await north.daemon.api.inject({
        method: 'GET',
        url: '/metrics',
        headers: {
          host: `127.0.0.1:${north.daemon.apiPort}`,
          authorization: `Bearer ${north.token}`,
        },
      })
      return Number(/^objectsync_history_reads_total (\d+)$/m.exec(response.body)?.[1])
    }
    const readsBefore = await reads()
    await history(north, small)
    expect(await reads()).toBe(readsBefore + 1)

    const unknown = await callApi(north, 'GET', '/v1/objects/01J00000000000000000000000/history')
    expect(unknown).toMatchObject({ status: 404, json: { error: { code: 'OBJECT_NOT_FOUND' } } })
    const badCursor = await callApi(north, 'GET', `/v1/objects/${small}/history?before=nope`)
    expect(badCursor).toMatchObject({ status: 400, json: { error: { code: 'INVALID_CURSOR' } } })
    const badLimit = await callApi(north, 'GET', `/v1/objects/${small}/history?limit=0`)
    expect(badLimit).toMatchObject({ status: 400, json: { error: { code: 'INVALID_REQUEST' } } })
  })
})

describe('objectsync history', () => {
  it('prints who changed what, by name, and the JSON with --json; an unknown id fails', async () => {
    const created = await callApi<{ id: string }>(north, 'POST', '/v1/objects', {
      body: { type: 'person', fields: { firstName: 'Tor', lastName: 'Eng' } },
    })
    const id = created.json.id
    // A value with a terminal escape sequence in it is printed without it.
    await callApi(north, 'PATCH', `/v1/objects/${id}`, {
      body: { fields: { lastName: 'Enge', title: '\u001b[2Jcleared' } },
    })
    // Not spawnSync: the daemon it asks runs in this process.
    const cli = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['bin/objectsync.js', 'history', ...args, '--dir', north.dir],
          { encoding: 'utf8' },
          (error, stdout, stderr) =>
            resolve({ status: error === null ? 0 : Number(error.code), stdout, stderr }),
        )
      })
    const text = await cli(id)
    expect(text.status).toBe(0)
    const lines = text.stdout.trim().split('\n')
    expect(lines[0]).toBe(`Tor Enge (${id})`)
    expect(lines[1]).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}North <b>office<\/b> {2}created: firstName: Tor · lastName: Eng$/,
    )
    expect(lines[2]).toMatch(
      / {2}North <b>office<\/b> {2}edited: lastName: Eng → Enge · title: \?\[2Jcleared$/,
    )
    const json = await cli(id, '--json', '--limit', '1')
    expect(json.status).toBe(0)
    const parsed = JSON.parse(json.stdout) as HistoryJson
    expect(parsed.entries.map((entry) => entry.change)).toEqual(['edit'])
    const older = await cli(id, '--json', '--before', parsed.next!)
    expect((JSON.parse(older.stdout) as HistoryJson).entries.map((entry) => entry.change)).toEqual([
      'create',
    ])
    const unknown = await cli('01J00000000000000000000000')
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toContain('OBJECT_NOT_FOUND')
    expect((await cli(id, '--limit', 'many')).status).toBe(2)
  }, 60_000)
})

describe('GET /v1/objects?q=', () => {
  it('finds records by name or email across types, each with its label', async () => {
    await callApi(north, 'POST', '/v1/objects', {
      body: { type: 'organization', fields: { name: 'Sjøberg Sanitetslag' } },
    })
    await callApi(north, 'POST', '/v1/objects', {
      body: {
        type: 'person',
        fields: { firstName: 'Siri', lastName: 'Sjøberg', email: 'siri@example.org' },
      },
    })
    const found = await callApi<{ items: { type: string; label: string }[]; next: null }>(
      north,
      'GET',
      '/v1/objects?q=sj%C3%B8berg',
    )
    expect(found.status).toBe(200)
    expect(found.json.items.map((item) => [item.type, item.label]).sort()).toEqual([
      ['organization', 'Sjøberg Sanitetslag'],
      ['person', 'Siri Sjøberg'],
    ])
    const byEmail = await callApi<{ items: { label: string }[] }>(
      north,
      'GET',
      '/v1/objects?q=SIRI@example&type=person',
    )
    expect(byEmail.json.items.map((item) => item.label)).toEqual(['Siri Sjøberg'])
    const neither = await callApi(north, 'GET', '/v1/objects')
    expect(neither).toMatchObject({
      status: 400,
      json: { error: { code: 'INVALID_REQUEST', message: expect.stringContaining('query.type') } },
    })
    const tooMany = await callApi(north, 'GET', '/v1/objects?q=siri&limit=500')
    expect(tooMany).toMatchObject({ status: 400, json: { error: { code: 'INVALID_REQUEST' } } })
  })
})
