// A daemon whose local system is a PostgreSQL database (a real server): `init --local
// postgres` writes the config and makes the default schema, rows another program writes
// become objects, objects made through the API become rows, and bad settings are refused
// before anything is written.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../daemon/config.ts'
import { initInstance } from '../../daemon/init.ts'
import { runDaemon } from '../../daemon/run.ts'
import { isObjectSyncError } from '../../src/errors.ts'
import { silentLogger } from '../../src/log.ts'
import { callApi } from '../helpers/daemons.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'
import { tempDir } from '../helpers/stores.ts'

let server: TestPostgres
beforeAll(async () => {
  server = await startPostgres()
}, 60_000)
afterAll(() => server?.stop())

async function refusal(promise: Promise<unknown>): Promise<Error> {
  const error: unknown = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  )
  expect(isObjectSyncError(error, 'INVALID_CONFIG')).toBe(true)
  return error as Error
}

describe('a daemon on PostgreSQL', () => {
  it('is made by init --local postgres, and syncs rows and objects both ways', async () => {
    const url = await server.createDatabase()
    const dir = tempDir('pg-daemon')
    await initInstance(dir, { name: 'north', local: 'postgres', localUrl: url })
    const written = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      local: unknown
    }
    expect(written.local).toEqual({ kind: 'postgres', url })
    expect(existsSync(join(dir, 'local.db'))).toBe(false)
    const other = new pg.Client({ connectionString: url })
    await other.connect()
    const tables = await other.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    expect(tables.rows.map((row) => row.name)).toEqual(
      expect.arrayContaining(['custom_fields', 'group_members', 'organizations', 'persons']),
    )
    const content = await other.query<{ type: string }>(
      "SELECT data_type AS type FROM information_schema.columns WHERE table_name = 'files' AND column_name = 'content'",
    )
    expect(content.rows).toEqual([{ type: 'bytea' }])

    await other.query(
      "INSERT INTO persons(id, first_name, last_name, email) VALUES ('crm-1', 'Anna', 'Berg', 'anna@example.org')",
    )
    await other.query(
      "INSERT INTO custom_fields(object_id, name, value) VALUES ('crm-1', 'level', 'gold')",
    )
    const config = parseConfig({
      ...written,
      name: 'north',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      api: { port: 0 },
    })
    const token = readFileSync(join(dir, 'api-token'), 'utf8').trim()
    const daemon = await runDaemon(dir, config, silentLogger)
    try {
      const at = { daemon, token }
      // Taken in at the first run…
      const listed = await callApi<{ items: { fields: Record<string, unknown> }[] }>(
        at,
        'GET',
        '/v1/objects?type=person',
      )
      expect(listed.json.items.map((item) => item.fields.email)).toEqual(['anna@example.org'])
      // Its custom fields too (read a page of rows at a time at the first run).
      const [anna] = (await daemon.instance.store.list('person')).items
      expect(anna?.custom).toEqual({ level: 'gold' })
      // …and after it, as another program commits.
      await other.query(
        "INSERT INTO persons(id, first_name, last_name) VALUES ('crm-2', 'Ole', 'Dahl')",
      )
      await vi.waitFor(
        async () => {
          const page = await callApi<{ items: unknown[] }>(at, 'GET', '/v1/objects?type=person')
          expect(page.json.items).toHaveLength(2)
        },
        { timeout: 10_000, interval: 100 },
      )
      // An object made here becomes a row.
      const created = await callApi<{ id: string }>(at, 'POST', '/v1/objects', {
        body: { type: 'person', fields: { firstName: 'Nora', lastName: 'Lie' } },
      })
      expect(created.status).toBe(201)
      await vi.waitFor(
        async () => {
          const row = await other.query('SELECT first_name FROM persons WHERE id = $1', [
            created.json.id,
          ])
          expect(row.rows).toEqual([{ first_name: 'Nora' }])
        },
        { timeout: 10_000, interval: 100 },
      )
    } finally {
      await daemon.stop()
      await other.end()
    }
  })

  it('reports a server that goes away in status and /metrics, and takes rows in again once it is back', async () => {
    const url = await server.createDatabase()
    const dir = tempDir('pg-away')
    await initInstance(dir, { name: 'north', local: 'postgres', localUrl: url })
    const config = parseConfig({
      ...(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as object),
      name: 'north',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      api: { port: 0 },
    })
    const token = readFileSync(join(dir, 'api-token'), 'utf8').trim()
    const daemon = await runDaemon(dir, config, silentLogger)
    const at = { daemon, token }
    type Status = { localSystem: { description: string; up: boolean; error: string | null } }
    const status = async () => (await callApi<Status>(at, 'GET', '/v1/status')).json.localSystem
    const metric = async (name: string) => {
      const response = await fetch(`http://127.0.0.1:${daemon.apiPort}/metrics`, {
        headers: { authorization: `Bearer ${token}` },
      })
      const line = (await response.text()).split('\n').find((each) => each.startsWith(`${name} `))
      return Number(line?.split(' ').at(-1))
    }
    try {
      expect(await status()).toMatchObject({ up: true, error: null })
      expect((await status()).description).toContain(`127.0.0.1:${server.port}`)
      expect(await metric('objectsync_local_system_up')).toBe(1)
      server.halt()
      try {
        await vi.waitFor(async () => expect((await status()).up).toBe(false), {
          timeout: 15_000,
          interval: 200,
        })
        expect((await status()).error).toContain(`127.0.0.1:${server.port}`)
        expect(await metric('objectsync_local_system_up')).toBe(0)
        expect(await metric('objectsync_local_system_failures_total')).toBeGreaterThan(0)
      } finally {
        server.resume()
      }
      // A row written as the server is back is taken in, and the server reported up.
      const other = new pg.Client({ connectionString: url })
      await vi.waitFor(() => other.connect(), { timeout: 15_000, interval: 200 })
      await other.query(
        "INSERT INTO persons(id, first_name, last_name) VALUES ('while-away', 'Ola', 'Nord')",
      )
      await other.end()
      await vi.waitFor(
        async () => {
          expect((await status()).up).toBe(true)
          const page = await callApi<{ items: unknown[] }>(at, 'GET', '/v1/objects?type=person')
          expect(page.json.items).toHaveLength(1)
        },
        { timeout: 15_000, interval: 200 },
      )
      expect(await metric('objectsync_local_system_up')).toBe(1)
    } finally {
      await daemon.stop()
    }
  })

  it('refuses a URL with a password, a missing URL, and another kind, writing nothing', async () => {
    const dir = tempDir('pg-refused')
    const withPassword = await refusal(
      initInstance(dir, {
        local: 'postgres',
        localUrl: `postgres://postgres:secret@127.0.0.1:${server.port}/postgres`,
      }),
    )
    expect(withPassword.message).toContain('PGPASSWORD')
    expect(withPassword.message).not.toContain('secret')
    const inQuery = await refusal(
      initInstance(dir, {
        local: 'postgres',
        localUrl: `postgres://postgres@127.0.0.1:${server.port}/postgres?password=secret`,
      }),
    )
    expect(inQuery.message).not.toContain('secret')
    expect(
      (await refusal(initInstance(dir, { localUrl: 'postgres://crm@db/donors' }))).message,
    ).toContain('--local postgres')
    const saved = process.env.OBJECTSYNC_LOCAL_URL
    delete process.env.OBJECTSYNC_LOCAL_URL
    try {
      expect((await refusal(initInstance(dir, { local: 'postgres' }))).message).toContain(
        '--local-url',
      )
    } finally {
      if (saved !== undefined) process.env.OBJECTSYNC_LOCAL_URL = saved
    }
    expect(existsSync(join(dir, 'config.json'))).toBe(false)
    // A server that does not answer: nothing is written either.
    const unreachable: unknown = await initInstance(dir, {
      local: 'postgres',
      localUrl: 'postgres://postgres@127.0.0.1:1/nowhere',
    }).catch((failure: unknown) => failure)
    expect(isObjectSyncError(unreachable, 'LOCAL_SYSTEM_IO')).toBe(true)
    expect(existsSync(join(dir, 'config.json'))).toBe(false)
    expect(existsSync(join(dir, 'api-token'))).toBe(false)
    expect(() =>
      parseConfig({ name: 'x', local: { kind: 'postgres', url: 'postgres://a:b@db/x' } }),
    ).toThrow('local.url: expected no password in the URL')
    expect(() =>
      parseConfig({ name: 'x', local: { kind: 'oracle', url: 'oracle://db' } }, 'c.json'),
    ).toThrow('c.json: local.kind: expected kind "sqlite", "postgres" or "folder"')
    expect(() =>
      parseConfig({ name: 'x', local: { kind: 'postgres', url: 'mysql://db' } }),
    ).toThrow('local.url: expected a PostgreSQL URL')
    // A config without a kind is the SQLite file, as before.
    expect(parseConfig({ name: 'x', local: { path: 'crm.db' } }).local).toMatchObject({
      kind: 'sqlite',
      path: 'crm.db',
    })
  })

  it('takes the URL from OBJECTSYNC_LOCAL_URL', async () => {
    const url = await server.createDatabase()
    const dir = tempDir('pg-env')
    const saved = process.env.OBJECTSYNC_LOCAL_URL
    process.env.OBJECTSYNC_LOCAL_URL = url
    try {
      await initInstance(dir, { local: 'postgres' })
    } finally {
      if (saved === undefined) delete process.env.OBJECTSYNC_LOCAL_URL
      else process.env.OBJECTSYNC_LOCAL_URL = saved
    }
    const localOf = () =>
      (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { local: unknown }).local
    expect(localOf()).toEqual({ kind: 'postgres', url })
    // A new token by --force keeps the local system.
    await initInstance(dir, { force: true })
    expect(localOf()).toEqual({ kind: 'postgres', url })
    expect(existsSync(join(dir, 'local.db'))).toBe(false)
  })
})
