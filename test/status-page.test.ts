// The status page in a real browser (Debian's Chromium, driven by playwright-core) against
// two running daemons over libp2p: the page sees the peer connect, shows a conflict made
// by two offline edits, and resolves it by a click — checked through the API and at the peer.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../daemon/config.ts'
import { initInstance } from '../daemon/init.ts'
import { runDaemon, type Daemon } from '../daemon/run.ts'
import { silentLogger } from '../src/log.ts'
import type { ObjectId } from '../src/model/index.ts'
import { tempDir } from './helpers/stores.ts'
import { eventually } from './helpers/sync-nodes.ts'

const CHROMIUM = '/usr/bin/chromium'
// CI installs Chromium (.ci/run); elsewhere the test says it was skipped rather than fail.
const haveBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined

interface Running {
  daemon: Daemon
  token: string
}

async function startDaemon(name: string): Promise<Running> {
  const dir = tempDir('page')
  await initInstance(dir, { name })
  const config = parseConfig({ name, listen: ['/ip4/127.0.0.1/tcp/0'], api: { port: 0 } })
  return {
    daemon: await runDaemon(dir, config, silentLogger),
    token: readFileSync(join(dir, 'api-token'), 'utf8').trim(),
  }
}

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
  })

  it(
    'shows the instance, then the peer connecting as it is paired',
    { timeout: 60_000 },
    async () => {
      await page.goto(`http://127.0.0.1:${north.daemon.apiPort}/#token=${north.token}`)
      await page.locator('#live.on').waitFor()
      expect(await page.locator('#instance-name').textContent()).toBe('North office')
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
  }, 60_000)
})
