// The status page in a real browser (Debian's Chromium, driven by playwright-core) against
// two running daemons over libp2p: the page sees the peer connect, shows a conflict made
// by two offline edits, and resolves it by a click — checked through the API and at the peer;
// it lists a merge as it happens, on both sides, and undoes it by a click.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import type { Daemon } from '../daemon/run.ts'
import type { ObjectId } from '../src/model/index.ts'
import { eventually } from './helpers/sync-nodes.ts'
import { startTestDaemon } from './helpers/daemons.ts'

const CHROMIUM = '/usr/bin/chromium'
// CI installs Chromium (.ci/run); elsewhere the test says it was skipped rather than fail.
const haveBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined

interface Running {
  daemon: Daemon
  dir: string
  token: string
}

const startDaemon = (name: string): Promise<Running> => startTestDaemon(name)

async function call(at: Running, method: string, path: string, body?: unknown) {
  const response = await fetch(`http://127.0.0.1:${at.daemon.apiPort}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${at.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, json: (text === '' ? undefined : JSON.parse(text)) as never }
}

describe.skipIf(!haveBrowser)('the status page', () => {
  let north: Running
  let south: Running
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    north = await startDaemon('North office')
    south = await startDaemon('South office')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    page = await browser.newPage()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await north?.daemon.stop()
    await south?.daemon.stop()
  })

  it('asks for the token when opened without one, and refuses a wrong one', async () => {
    await page.goto(`http://127.0.0.1:${north.daemon.apiPort}/`)
    await page.getByLabel('API token').fill('not-the-token')
    await page.getByRole('button', { name: 'Open' }).click()
    await expect
      .poll(() => page.locator('#login-error').textContent())
      .toContain('not the token of this daemon')
    expect(await page.locator('#main').isVisible()).toBe(false)
    // Before the token, no half-filled status line; the hint names the command that works.
    expect(await page.locator('#instance-line').isVisible()).toBe(false)
    expect(await page.locator('#login').textContent()).toContain('objectsync status --with-token')
  })

  it(
    'shows the instance, then the peer connecting as it is paired',
    { timeout: 60_000 },
    async () => {
      await page.goto(`http://127.0.0.1:${north.daemon.apiPort}/#token=${north.token}`)
      await page.locator('#live.on').waitFor()
      expect(await page.locator('#instance-name').textContent()).toBe('North office')
      expect(await page.locator('#instance-line').isVisible()).toBe(true)
      // The local system answers: its SQLite file, shown as up.
      expect(await page.locator('#local-system.on').textContent()).toContain('SQLite')
      await expect.poll(() => page.locator('#local-system').textContent()).toContain('up to date')
      // The token left the address bar for the tab's session storage.
      expect(page.url()).not.toContain(north.token)
      expect(await page.locator('#no-peers').isVisible()).toBe(true)

      const invite = await call(north, 'POST', '/v1/invites', { expires: '10m' })
      const paired = await call(south, 'POST', '/v1/pair', {
        token: (invite.json as { token: string }).token,
      })
      expect(paired.status).toBe(201)
      const southId = south.daemon.instance.id
      const row = page.locator(`[id="peer-${southId}"]`)
      await row.locator('.state.on').waitFor({ timeout: 20_000 })
      expect(await row.locator('td').first().textContent()).toBe('South office')
      expect(await page.locator('#no-peers').isVisible()).toBe(false)

      // The same, as Prometheus sees it.
      const labels = `{peer="${southId}",name="South office"}`
      const metric = async (name: string) => {
        const response = await fetch(`http://127.0.0.1:${north.daemon.apiPort}/metrics`, {
          headers: { authorization: `Bearer ${north.token}` },
        })
        const line = (await response.text())
          .split('\n')
          .find((each) => each.startsWith(name + labels))
        return line === undefined ? undefined : Number(line.split(' ').at(-1))
      }
      expect(await metric('objectsync_peer_connected')).toBe(1)
      await eventually(
        async () => ((await metric('objectsync_sync_duration_seconds_count')) ?? 0) >= 1,
      )
      expect(await metric('objectsync_frames_sent_total')).toBeGreaterThan(0)
      expect(await metric('objectsync_frames_received_total')).toBeGreaterThan(0)
    },
  )

  it('shows a conflict from two offline edits and resolves it by a click', async () => {
    const created = await call(north, 'POST', '/v1/objects', {
      type: 'person',
      fields: { firstName: 'Grace', lastName: 'Hopper', phone: '+47 1000' },
    })
    const id = (created.json as { id: ObjectId }).id
    await eventually(async () => (await south.daemon.instance.store.get(id)) !== undefined, 20_000)

    // Both offices edit the same field while they can't reach each other.
    const northId = north.daemon.instance.id
    const southId = south.daemon.instance.id
    north.daemon.instance.engine.disconnect(southId)
    south.daemon.instance.engine.disconnect(northId)
    await page.locator(`[id="peer-${southId}"] .state.off`).waitFor({ timeout: 20_000 })
    await call(north, 'PATCH', `/v1/objects/${id}`, { fields: { phone: '+47 2222' } })
    await call(south, 'PATCH', `/v1/objects/${id}`, { fields: { phone: '+47 3333' } })
    north.daemon.instance.engine.connect(southId)
    south.daemon.instance.engine.connect(northId)

    const card = page.locator(`li.conflict[data-object="${id}"][data-field="phone"]`)
    await card.waitFor({ timeout: 20_000 })
    const shown = (await north.daemon.instance.store.get(id))!.fields.phone
    const lost = shown === '+47 2222' ? '+47 3333' : '+47 2222'
    expect(await card.textContent()).toContain(shown as string)
    expect(await card.textContent()).toContain(lost)
    expect(await page.locator('#conflict-count').textContent()).toBe('1')

    // Restore the value that lost.
    await card.locator('.choice', { hasText: lost }).getByRole('button').click()
    await card.waitFor({ state: 'detached' })
    expect(await page.locator('#no-conflicts').isVisible()).toBe(true)
    const after = await call(north, 'GET', `/v1/objects/${id}`)
    expect((after.json as { fields: { phone: string } }).fields.phone).toBe(lost)
    expect((await call(north, 'GET', '/v1/conflicts')).json).toEqual({ conflicts: [] })
    // The choice is a new edit: it reaches the other office too.
    await eventually(
      async () => (await south.daemon.instance.store.get(id))?.fields.phone === lost,
      20_000,
    )
    // Opened afresh, "Recent changes" names the office a change came from, as live.
    const fromSouth = (await call(north, 'GET', '/v1/changes?since=0')).json as {
      changes: { id: string; from?: string }[]
    }
    expect(fromSouth.changes.some((change) => change.from === southId)).toBe(true)
    expect(fromSouth.changes.some((change) => change.from === undefined)).toBe(true)
    await page.reload()
    await page.locator('#live.on').waitFor()
    await page
      .locator('#changes tbody tr', { hasText: 'South office' })
      .first()
      .waitFor({ timeout: 10_000 })
  }, 60_000)

  it('shows a record that matches two here for review, and links it by a click', async () => {
    // North's own system holds two people of one name; once South has them, it adds a
    // third of that name, with nothing that tells which of the two it is.
    const sql = new Database(join(north.dir, 'local.db'))
    const southSql = new Database(join(south.dir, 'local.db'), { readonly: true })
    onTestFinished(() => {
      sql.close()
      southSql.close()
    })
    sql.pragma('busy_timeout = 5000')
    const insert = sql.prepare(
      "INSERT INTO persons(id, first_name, last_name, email) VALUES (?, 'Jon', 'Smith', ?)",
    )
    insert.run('m1', 'jon@north.example')
    insert.run('m2', 'j.smith@north.example')
    const smiths = (db: Database.Database) =>
      db.prepare("SELECT id FROM persons WHERE first_name = 'Jon' ORDER BY id").all()
    await eventually(() => smiths(southSql).length === 2, 20_000)
    // Rows another program wrote into North's own database show as the local system's.
    const fromTable = (await call(north, 'GET', '/v1/changes?since=0')).json as {
      changes: { local?: boolean; from?: string }[]
    }
    expect(fromTable.changes.some((change) => change.local === true)).toBe(true)
    expect(fromTable.changes.some((change) => change.from === north.daemon.instance.id)).toBe(false)
    const created = await call(south, 'POST', '/v1/objects', {
      type: 'person',
      fields: { firstName: 'Jon', lastName: 'Smith' },
    })
    const id = (created.json as { id: ObjectId }).id

    const card = page.locator(`li.match[data-object="${id}"]`)
    await card.waitFor({ timeout: 20_000 })
    expect(await card.textContent()).toContain('jon@north.example')
    expect(await card.textContent()).toContain('j.smith@north.example')
    await card
      .locator('.choice', { hasText: 'j.smith@north.example' })
      .getByRole('button', { name: 'Link to this record' })
      .click()
    await card.waitFor({ state: 'detached' })
    expect(await page.locator('#no-matches').isVisible()).toBe(true)
    expect((await call(north, 'GET', '/v1/matches')).json).toEqual({ matches: [] })
    // Linked, not copied: North still has its two rows, and the two objects became one
    // (the later one is merged into the other everywhere).
    expect(smiths(sql)).toEqual([{ id: 'm1' }, { id: 'm2' }])
    await eventually(
      async () => (await south.daemon.instance.store.get(id))?.mergedInto !== undefined,
      20_000,
    )
  }, 60_000)

  it('lists a merge as it happens, with who decided, here and at the peer; Undo undoes it', async () => {
    const names = new Map<ObjectId, string>()
    for (const lastName of ['Lovelace', 'King']) {
      const created = await call(north, 'POST', '/v1/objects', {
        type: 'person',
        fields: { firstName: 'Ada', lastName },
      })
      names.set((created.json as { id: ObjectId }).id, `Ada ${lastName}`)
    }
    // Ids made in one millisecond sort at random: the names go with the ids.
    const [small, large] = [...names.keys()].sort() as [ObjectId, ObjectId]
    const card = page.locator(`li.merge[data-object="${large}"]`)
    expect(await card.count()).toBe(0)
    expect((await call(north, 'POST', `/v1/objects/${large}/merge`, { with: small })).status).toBe(
      200,
    )

    // The open page hears of it and lists it: both records by name, decided here.
    await card.waitFor({ timeout: 20_000 })
    expect(await card.getAttribute('data-into')).toBe(small)
    const text = (await card.textContent())!
    // By name, each a link to the record's view with its id in the tooltip.
    expect(text).toContain(`${names.get(large)!} merged into ${names.get(small)!}`)
    expect(await card.locator(`a[title="${large}"]`).textContent()).toBe(names.get(large))
    expect(await card.locator(`a[title="${small}"]`).getAttribute('href')).toBe(
      `#/objects/${small}`,
    )
    expect(await card.locator('.decided').textContent()).toMatch(/^by this instance · \S/)

    // South learns the merge with the documents; its page names North as who decided.
    const southPage = await browser.newPage()
    onTestFinished(() => southPage.close())
    await southPage.goto(`http://127.0.0.1:${south.daemon.apiPort}/#token=${south.token}`)
    const atSouth = southPage.locator(`li.merge[data-object="${large}"]`)
    await atSouth.waitFor({ timeout: 20_000 })
    expect(await atSouth.locator('.decided').textContent()).toMatch(/^by North office · /)

    await card.getByRole('button', { name: 'Undo' }).click()
    await card.waitFor({ state: 'detached' })
    expect(await page.locator('#action-error').textContent()).toBe('')
    const after = (await call(north, 'GET', `/v1/objects/${large}`)).json as { mergedInto?: string }
    expect(after.mergedInto).toBeUndefined()
    // The undoing reaches South, whose open page drops the merge as it arrives.
    await atSouth.waitFor({ state: 'detached', timeout: 20_000 })
    expect(south.daemon.instance.store.survivorOf(large)).toBe(large)
  }, 60_000)
})
