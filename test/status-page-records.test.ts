// The status page as a place to work, in a real browser (Debian's Chromium, driven by
// playwright-core) against two paired daemons: a record found by search, opened, its
// fields with who wrote them, its history and a conflict, a value restored from the
// record's view; records by name in the overview; a peer's name with markup shown as
// text; and axe-core's rules on every view.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ObjectId } from '../src/model/index.ts'
import { callApi, startTestDaemon, type TestDaemon } from './helpers/daemons.ts'
import { eventually } from './helpers/sync-nodes.ts'

const CHROMIUM = '/usr/bin/chromium'
// CI installs Chromium (.ci/run); elsewhere the test says it was skipped rather than fail.
const haveBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const SOUTH_NAME = 'South <i>office</i>'

interface AxeViolation {
  id: string
  help: string
  nodes: { target: string[] }[]
}

/** axe-core's rules (WCAG 2 A and AA) on the page as it is now: the violations, as text. */
async function accessibilityViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE)
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (options: object) => Promise<unknown> } })
      .axe
    const result = (await axe.run({
      runOnly: {
        type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
      },
    })) as { violations: AxeViolation[] }
    return result.violations
  })
  return violations.map(
    (violation) =>
      `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`,
  )
}

describe.skipIf(!haveBrowser)('the status page: records, search, history', () => {
  let north: TestDaemon
  let south: TestDaemon
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    ;[north, south] = await Promise.all([
      startTestDaemon('North office'),
      startTestDaemon(SOUTH_NAME),
    ])
    const invite = await callApi<{ token: string }>(north, 'POST', '/v1/invites', { body: {} })
    const paired = await callApi(south, 'POST', '/v1/pair', {
      body: { token: invite.json.token },
    })
    expect(paired.status).toBe(201)
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    page = await browser.newPage()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await Promise.all([north?.daemon.stop(), south?.daemon.stop()])
  })

  it('opens a record from a search: fields, history, a conflict restored from its view', async () => {
    const created = await callApi<{ id: ObjectId }>(north, 'POST', '/v1/objects', {
      body: {
        type: 'person',
        fields: { firstName: 'Linnea', lastName: 'Strand', phone: '+47 100' },
        custom: { donorNumber: 'D-7' },
      },
    })
    const id = created.json.id
    await eventually(async () => (await south.daemon.instance.store.get(id)) !== undefined, 20_000)
    // Both offices change the phone while apart: a conflict.
    const [northId, southId] = [north.daemon.instance.id, south.daemon.instance.id]
    north.daemon.instance.engine.disconnect(southId)
    south.daemon.instance.engine.disconnect(northId)
    await callApi(north, 'PATCH', `/v1/objects/${id}`, { body: { fields: { phone: '+47 200' } } })
    await callApi(south, 'PATCH', `/v1/objects/${id}`, { body: { fields: { phone: '+47 300' } } })
    north.daemon.instance.engine.connect(southId)
    south.daemon.instance.engine.connect(northId)
    await eventually(
      async () => (await north.daemon.instance.store.listConflicts()).length === 1,
      20_000,
    )

    await page.goto(`http://127.0.0.1:${north.daemon.apiPort}/#token=${north.token}`)
    await page.locator('#live.on').waitFor()
    // The overview names records: the conflict and recent changes by name, ids in tooltips.
    const conflict = page.locator(`li.conflict[data-object="${id}"]`)
    await conflict.waitFor({ timeout: 10_000 })
    expect(await conflict.locator(`a[title="${id}"]`).textContent()).toBe('Linnea Strand')
    await page.locator('#changes a', { hasText: 'Linnea Strand' }).first().waitFor()
    expect(await page.locator('#changes').textContent()).not.toContain(id)

    await page.getByLabel('Search records').fill('linnea STRAND')
    await page.getByLabel('Search records').press('Enter')
    const found = page.locator('#search-results a', { hasText: 'Linnea Strand' })
    await found.waitFor()
    expect(await page.locator('#overview').isVisible()).toBe(false)
    await found.click()

    const view = page.locator('#record-view')
    await view.locator('#record-title', { hasText: 'Linnea Strand' }).waitFor()
    expect(page.url()).toContain(`#/objects/${id}`)
    // Custom fields by their group, each value with who wrote it.
    expect(await view.locator('th.group').allTextContents()).toEqual(['Custom fields: other'])
    const donorRow = view.locator('tr', { has: page.locator('th', { hasText: 'donorNumber' }) })
    expect(await donorRow.textContent()).toContain('D-7')
    expect(await donorRow.textContent()).toContain('North office')
    expect(await view.locator('.local-row').textContent()).toMatch(/table persons, key \S+/)

    // The history: created here, then each office's phone, the peer's name as text.
    const history = view.locator('#record-history > li')
    await history.first().waitFor()
    const entries = await history.allTextContents()
    expect(entries.at(-1)).toContain('North office created')
    expect(entries.at(-1)).toContain('donorNumber: D-7')
    expect(entries.join('\n')).toContain(`${SOUTH_NAME} edited`)
    expect(entries.join('\n')).toContain('phone: +47 100 → +47 300')
    expect(await view.locator('#record-history i').count()).toBe(0)

    // Restore the value that lost, from the record's view.
    const shown = (await north.daemon.instance.store.get(id))!.fields.phone
    const lost = shown === '+47 200' ? '+47 300' : '+47 200'
    const card = view.locator(`li.conflict[data-object="${id}"]`)
    await card.locator('.choice', { hasText: lost }).getByRole('button').click()
    await card.waitFor({ state: 'detached' })
    expect(await page.locator('#action-error').textContent()).toBe('')
    expect((await north.daemon.instance.store.get(id))!.fields.phone).toBe(lost)
    // The view, read again, shows the restore as the latest change, made here.
    await expect
      .poll(async () => (await history.first().textContent()) ?? '')
      .toMatch(new RegExp(`North office edited.*phone: \\+47 [23]00 → \\${lost}`))

    for (const view of ['record view', 'search']) {
      if (view === 'search') {
        await page.getByLabel('Search records').fill('nobody-like-this')
        await page.getByLabel('Search records').press('Enter')
        await page.locator('#search-results', { hasText: 'No record has that name' }).waitFor()
      }
      expect(await accessibilityViolations(page), view).toEqual([])
    }
    await page.getByRole('link', { name: 'Overview' }).click()
    await page.locator('#overview').waitFor()
    expect(await accessibilityViolations(page), 'overview').toEqual([])
  }, 60_000)

  it('manages peers from the page: pause and resume, a share previewed and saved, pairing', async () => {
    const southId = south.daemon.instance.id
    await page.goto(`http://127.0.0.1:${north.daemon.apiPort}/#/`)
    await page.locator('#live.on').waitFor()
    const row = page.locator(`[id="peer-${southId}"]`)
    await row.locator('.state.on').waitFor({ timeout: 20_000 })

    await row.getByRole('button', { name: `Pause ${SOUTH_NAME}` }).click()
    await row.locator('.state', { hasText: 'paused' }).waitFor()
    expect(north.daemon.instance.engine.state(southId).connected).toBe(false)
    await row.getByRole('button', { name: `Resume ${SOUTH_NAME}` }).click()
    await row.locator('.state.on', { hasText: 'connected' }).waitFor({ timeout: 20_000 })

    // Persons no longer shared: the preview says how many would be withdrawn, then saved.
    const persons = (await callApi<{ items: unknown[] }>(north, 'GET', '/v1/objects?type=person'))
      .json.items.length
    expect(persons).toBeGreaterThan(0)
    await row.getByRole('button', { name: `Share… with ${SOUTH_NAME}: what it gets` }).click()
    await page.locator('#share-editor').waitFor()
    await page.getByLabel('person').uncheck()
    expect(JSON.parse(await page.getByLabel('Share (JSON)').inputValue())).not.toHaveProperty(
      'person',
    )
    await page.getByRole('button', { name: 'Preview' }).click()
    await page.locator('#share-result', { hasText: 'Would withdraw' }).waitFor()
    expect(await page.locator('#share-result').textContent()).toContain(`${persons} person`)
    const before = await callApi<{ peers: { share: object | null }[] }>(north, 'GET', '/v1/peers')
    expect(before.json.peers[0]!.share).toHaveProperty('person')
    expect(await accessibilityViolations(page), 'share editor').toEqual([])
    await page.getByRole('button', { name: 'Save' }).click()
    await page.locator('#share-result', { hasText: 'Saved' }).waitFor()
    const after = await callApi<{ peers: { share: object | null }[] }>(north, 'GET', '/v1/peers')
    expect(after.json.peers[0]!.share).not.toHaveProperty('person')
    // A JSON typo is said on the page and nothing is sent.
    await page.getByLabel('Share (JSON)').fill('{ "person": ')
    await page.getByRole('button', { name: 'Preview' }).click()
    await expect.poll(() => page.locator('#action-error').textContent()).toContain('INVALID_SHARE')
    await page.getByRole('button', { name: 'Close' }).click()

    // An invite made here, and pairing with a third office by its invite.
    await page.getByRole('button', { name: 'Make an invite' }).click()
    await expect.poll(() => page.locator('#invite-token').inputValue()).toMatch(/^os1\./)
    const west = await startTestDaemon('West office')
    try {
      const invite = await callApi<{ token: string }>(west, 'POST', '/v1/invites', { body: {} })
      await page.getByLabel('Pair with an invite token').fill(invite.json.token)
      await page.getByLabel('Name it here (optional)').fill('West')
      await page.getByRole('button', { name: 'Pair', exact: true }).click()
      await page.locator('#pair-result', { hasText: 'Paired with West.' }).waitFor()
      await page
        .locator(`[id="peer-${west.daemon.instance.id}"] .state.on`)
        .waitFor({ timeout: 20_000 })
    } finally {
      await west.daemon.stop()
    }
  }, 90_000)

  it('answers an unknown record in its view, not with a blank page', async () => {
    await page.goto(`http://127.0.0.1:${north.daemon.apiPort}/#/objects/01J00000000000000000000000`)
    await page.locator('#record-title', { hasText: 'No such record' }).waitFor()
    expect(await page.locator('#record-view').textContent()).toContain('OBJECT_NOT_FOUND')
  })
})
