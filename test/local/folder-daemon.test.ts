// Two daemons over real libp2p: one beside a folder of vCard files (made by `init --local
// folder`, filled with exported cards), the other beside the default SQLite schema. The
// contacts become rows, rows become cards (a person's company as ORG), an edit of a card
// reaches the row and an edit of a row reaches the card with the rest of it untouched,
// and nothing is made twice.
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { parseConfig } from '../../daemon/config.ts'
import { initInstance } from '../../daemon/init.ts'
import { runDaemon } from '../../daemon/run.ts'
import { isObjectSyncError } from '../../src/errors.ts'
import { silentLogger } from '../../src/log.ts'
import { callApi } from '../helpers/daemons.ts'
import { tempDir } from '../helpers/stores.ts'

async function daemonIn(dir: string) {
  const written = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as object
  const config = parseConfig({ ...written, listen: ['/ip4/127.0.0.1/tcp/0'], api: { port: 0 } })
  const daemon = await runDaemon(dir, config, silentLogger)
  return { daemon, token: readFileSync(join(dir, 'api-token'), 'utf8').trim() }
}

/**
 * North on a folder of `format` files (init --local folder, filled with the fixtures),
 * south on SQLite, paired; stopped when the test finishes.
 */
async function pairedFolderAndSqlite(format: 'vcard' | 'google-csv', path: string) {
  const northDir = tempDir(`${format}-north`)
  const southDir = tempDir(`${format}-south`)
  await initInstance(northDir, { name: 'north', local: 'folder', localPath: path, format })
  const folder = join(northDir, path)
  const fixtures = format === 'vcard' ? 'vcards' : 'google-csv'
  cpSync(join(import.meta.dirname, '../fixtures', fixtures), folder, { recursive: true })
  await initInstance(southDir, { name: 'south' })
  const north = await daemonIn(northDir)
  onTestFinished(() => north.daemon.stop())
  const south = await daemonIn(southDir)
  onTestFinished(() => south.daemon.stop())
  const crm = new Database(join(southDir, 'local.db'))
  crm.pragma('busy_timeout = 5000')
  onTestFinished(() => void crm.close())
  const invite = await callApi<{ token: string }>(north, 'POST', '/v1/invites', {
    body: { expires: '10m' },
  })
  const paired = await callApi(south, 'POST', '/v1/pair', { body: { token: invite.json.token } })
  expect(paired.status).toBe(201)
  return { north, northDir, folder, crm }
}

describe('a folder of contact files and a SQLite database', () => {
  it('sync contacts both ways through both local systems', { timeout: 90_000 }, async () => {
    const {
      north,
      northDir,
      folder: contacts,
      crm,
    } = await pairedFolderAndSqlite('vcard', 'contacts')
    const config = JSON.parse(readFileSync(join(northDir, 'config.json'), 'utf8')) as {
      local: unknown
    }
    expect(config.local).toEqual({ kind: 'folder', path: 'contacts', format: 'vcard' })
    const status = await callApi<{ localSystem: { description: string; up: boolean } }>(
      north,
      'GET',
      '/v1/status',
    )
    expect(status.json.localSystem).toMatchObject({ up: true })
    expect(status.json.localSystem.description).toContain('vCard folder')
    // The cards become rows, Ada at her company.
    const personsAtSouth = () =>
      crm.prepare('SELECT id, first_name, title, email, organization_id FROM persons').all() as {
        id: string
        first_name: string
        title: string | null
        email: string | null
        organization_id: string | null
      }[]
    const organizationsAtSouth = () =>
      crm.prepare('SELECT id, name FROM organizations ORDER BY name').all() as {
        id: string
        name: string
      }[]
    await vi.waitFor(
      () => {
        expect(
          personsAtSouth()
            .map((row) => row.first_name)
            .sort(),
        ).toEqual(['Ada', 'Charles', 'Grace', 'Margaret'])
        expect(organizationsAtSouth().map((row) => row.name)).toEqual([
          'Acme AS',
          'Analytical Engines Ltd',
          'Apollo Guidance',
        ])
      },
      { timeout: 30_000, interval: 100 },
    )
    const acme = organizationsAtSouth().find((row) => row.name === 'Acme AS')!
    const ada = () => personsAtSouth().find((row) => row.first_name === 'Ada')!
    expect(ada().organization_id).toBe(acme.id)

    // A row made at south becomes a card of its own, at its company.
    crm
      .prepare(
        "INSERT INTO persons(id, first_name, last_name, email, organization_id) VALUES ('nora', 'Nora', 'Lie', 'nora@acme.example', ?)",
      )
      .run(acme.id)
    const cards = () =>
      readdirSync(contacts)
        .filter((name) => name.endsWith('.vcf'))
        .map((name) => readFileSync(join(contacts, name), 'utf8'))
    await vi.waitFor(
      () => {
        const nora = cards().find((text) => text.includes('N:Lie;Nora;;;'))
        expect(nora).toContain('EMAIL:nora@acme.example')
        expect(nora).toContain('ORG:Acme AS')
      },
      { timeout: 30_000, interval: 100 },
    )

    // An edit of a row reaches its card, the rest of the card as it was.
    crm.prepare("UPDATE persons SET title = 'Chief Analyst' WHERE id = ?").run(ada().id)
    await vi.waitFor(
      () => {
        const apple = readFileSync(join(contacts, 'apple-contacts.vcf'), 'utf8')
        expect(apple).toContain('TITLE:Chief Analyst')
        expect(apple).toContain('X-SOCIALPROFILE;TYPE=twitter:https://twitter.com/ada')
        expect(apple).toContain('VERSION:3.0')
      },
      { timeout: 30_000, interval: 100 },
    )

    // An edit of a card reaches its row.
    const grace = join(contacts, 'nextcloud-grace.vcf')
    writeFileSync(
      grace,
      readFileSync(grace, 'utf8').replace('grace@navy.example', 'grace@cobol.example'),
    )
    await vi.waitFor(
      () => {
        const row = personsAtSouth().find((each) => each.first_name === 'Grace')
        expect(row?.email).toBe('grace@cobol.example')
      },
      { timeout: 30_000, interval: 100 },
    )
    // Nothing made twice, on either side.
    expect(personsAtSouth()).toHaveLength(5)
    expect(organizationsAtSouth()).toHaveLength(3)
    expect(cards().filter((text) => text.includes('Nora'))).toHaveLength(1)
    const objects = await callApi<{ items: unknown[] }>(north, 'GET', '/v1/objects?type=person')
    expect(objects.json.items).toHaveLength(5)
  })

  it(
    'sync a Google Contacts export both ways with a SQLite database',
    { timeout: 90_000 },
    async () => {
      const { folder: google, crm } = await pairedFolderAndSqlite('google-csv', 'google')
      const people = () =>
        crm.prepare('SELECT first_name, email FROM persons ORDER BY first_name').all()
      await vi.waitFor(
        () =>
          expect(people()).toEqual([
            { first_name: 'Ada', email: 'ada@acme.example' },
            { first_name: 'Grace', email: 'grace@navy.example' },
            { first_name: 'Margaret', email: 'margaret@apollo.example' },
          ]),
        { timeout: 30_000, interval: 100 },
      )
      // A row made at south becomes a line of the export, and an edit there a row's edit.
      crm
        .prepare(
          "INSERT INTO persons(id, first_name, last_name, email) VALUES ('nora', 'Nora', 'Lie', 'nora@lie.example')",
        )
        .run()
      const exported = () => readFileSync(join(google, 'contacts.csv'), 'utf8')
      await vi.waitFor(() => expect(exported()).toContain('Nora,,Lie'), {
        timeout: 30_000,
        interval: 100,
      })
      writeFileSync(
        join(google, 'older-export.csv'),
        readFileSync(join(google, 'older-export.csv'), 'utf8').replace(',Director,', ',Founder,'),
      )
      await vi.waitFor(
        () => {
          const row = crm
            .prepare("SELECT title FROM persons WHERE first_name = 'Margaret'")
            .get() as { title: string }
          expect(row.title).toBe('Founder')
        },
        { timeout: 30_000, interval: 100 },
      )
      expect(people()).toHaveLength(4)
      expect(exported().match(/Nora/g)).toHaveLength(1)
    },
  )

  it('refuses a folder without a path, another format, and options of other kinds', async () => {
    const dir = tempDir('folder-refused')
    const refusal = async (options: Parameters<typeof initInstance>[1]) => {
      const error: unknown = await initInstance(dir, options).catch((failure: unknown) => failure)
      expect(isObjectSyncError(error, 'INVALID_CONFIG')).toBe(true)
      return (error as Error).message
    }
    expect(await refusal({ local: 'folder' })).toContain('--local-path DIR')
    expect(await refusal({ local: 'folder', localPath: 'c', format: 'ldif' })).toContain(
      'expected "vcard" or "google-csv"',
    )
    expect(await refusal({ localPath: 'c' })).toContain('go with --local folder')
    // Refused before anything is written: no config, no token, no folder.
    for (const name of ['config.json', 'api-token', 'c']) {
      expect(existsSync(join(dir, name))).toBe(false)
    }
    expect(() =>
      parseConfig({ name: 'x', local: { kind: 'folder', path: 'c', format: 'ldif' } }, 'c.json'),
    ).toThrow('c.json: local.format: expected format "vcard" or "google-csv"')
  })
})
