// Managing a paired peer while the daemons run, through PATCH /v1/peers/:id and POST
// /v1/peers/:id/share-preview on two real daemons: pausing stops the session both ways
// until resumed, also across a restart, and the paused side refuses the peer's streams
// (said once in its log); a new share narrows or widens what the peer gets without a
// restart, as its preview said; bad bodies are refused with their code, leaving peers.json
// as it was. `objectsync pause` / `resume` take a peer's name.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../daemon/config.ts'
import type { PeerView } from '../daemon/events.ts'
import { runDaemon } from '../daemon/run.ts'
import type { InstanceId } from '../src/model/index.ts'
import { captureLogger } from './helpers/capture-logger.ts'
import { callApi, startTestDaemon, type TestDaemon } from './helpers/daemons.ts'
import { eventually } from './helpers/sync-nodes.ts'

interface PreviewJson {
  send: Record<string, number>
  withdraw: Record<string, number>
  examples: Record<'send' | 'withdraw', { id: string; type: string; label: string }[]>
}
interface ErrorJson {
  error: { code: string; message: string }
}
interface PeersFile {
  peers: { id: string; name: string; paused?: boolean; share?: unknown }[]
}

const SHARE_EVERYTHING = { person: {}, organization: {}, transaction: {}, file: {} }

let north: TestDaemon
let south: TestDaemon
let northId: InstanceId
let southId: InstanceId

beforeAll(async () => {
  ;[north, south] = await Promise.all([
    startTestDaemon('North office'),
    startTestDaemon('South office'),
  ])
  northId = north.daemon.instance.id
  southId = south.daemon.instance.id
  const invite = await callApi<{ token: string }>(north, 'POST', '/v1/invites', { body: {} })
  const paired = await callApi(south, 'POST', '/v1/pair', { body: { token: invite.json.token } })
  expect(paired.status).toBe(201)
  await eventually(() => connected(north, southId) && connected(south, northId), 15_000)
}, 30_000)
afterAll(async () => {
  await Promise.all([north, south].map((each) => each.daemon.stop()))
})

const connected = (at: TestDaemon, peer: InstanceId) =>
  at.daemon.instance.engine.state(peer).connected
const peersFileText = (at: TestDaemon) => readFileSync(join(at.dir, 'peers.json'), 'utf8')
const peersFile = (at: TestDaemon) => JSON.parse(peersFileText(at)) as PeersFile
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const patchPeer = (at: TestDaemon, peer: string, body: unknown) =>
  callApi<PeerView & ErrorJson>(at, 'PATCH', `/v1/peers/${peer}`, { body })
const preview = (at: TestDaemon, peer: string, share: unknown) =>
  callApi<PreviewJson & ErrorJson>(at, 'POST', `/v1/peers/${peer}/share-preview`, {
    body: { share },
  })

async function create(at: TestDaemon, type: string, fields: Record<string, unknown>) {
  const created = await callApi<{ id: string }>(at, 'POST', '/v1/objects', {
    body: { type, fields },
  })
  expect(created.status).toBe(201)
  return created.json.id
}

/** The labels of the records of `type` at `at`. */
async function labels(at: TestDaemon, type: string): Promise<string[]> {
  const page = await callApi<{ items: { label: string }[] }>(
    at,
    'GET',
    `/v1/objects?type=${type}&limit=1000`,
  )
  return page.json.items.map((item) => item.label)
}

const holds = async (at: TestDaemon, type: string, label: string) =>
  (await labels(at, type)).includes(label)

describe('PATCH /v1/peers/:id and POST /v1/peers/:id/share-preview refuse', () => {
  it('bad bodies and unknown peers with their code, writing nothing', async () => {
    const before = peersFileText(north)
    const refusals: [string, unknown, number, string, RegExp][] = [
      [southId, { nickname: 'x' }, 400, 'INVALID_REQUEST', /^body: unknown "nickname"$/],
      [southId, {}, 400, 'INVALID_REQUEST', /expected at least one of name, paused, share/],
      [southId, { name: '' }, 400, 'INVALID_REQUEST', /^body\.name: /],
      [southId, { name: 'x'.repeat(201) }, 400, 'INVALID_REQUEST', /^body\.name: /],
      [southId, { paused: 'yes' }, 400, 'INVALID_REQUEST', /^body\.paused: expected true/],
      [southId, { share: ['person'] }, 400, 'INVALID_REQUEST', /^body\.share: expected an object/],
      [
        southId,
        { share: { person: { roles: 'partner' } } },
        400,
        'INVALID_REQUEST',
        /^body\.share\.person\.roles: expected a list of names$/,
      ],
      [
        southId,
        { share: { persons: {} } },
        400,
        'INVALID_REQUEST',
        /^body\.share\.persons: not an object type/,
      ],
      [
        southId,
        { share: { person: false } },
        400,
        'INVALID_REQUEST',
        /^body\.share\.person: expected an object of rules/,
      ],
      [
        southId,
        { share: { organization: { roles: ['partner'] } } },
        400,
        'INVALID_REQUEST',
        /^body\.share\.organization\.roles: not a rule for organization/,
      ],
      // A bad share refuses the whole change: the pause with it is not made either.
      [
        southId,
        { paused: true, share: { person: { favourites: 'yes' } } },
        400,
        'INVALID_REQUEST',
        /^body\.share\.person\.favourites: expected true or false$/,
      ],
      [northId, { paused: true }, 404, 'PEER_NOT_FOUND', /no paired peer/],
    ]
    for (const [peer, body, status, code, message] of refusals) {
      const answer = await patchPeer(north, peer, body)
      expect({ body, status: answer.status, code: answer.json.error.code }).toEqual({
        body,
        status,
        code,
      })
      expect(answer.json.error.message).toMatch(message)
    }
    const badPreview = await preview(north, southId, { file: { kinds: [1] } })
    expect(badPreview.status).toBe(400)
    expect(badPreview.json.error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'body.share.file.kinds: expected a list of names',
    })
    const unknownPreview = await preview(north, northId, {})
    expect(unknownPreview.status).toBe(404)
    expect(unknownPreview.json.error.code).toBe('PEER_NOT_FOUND')

    expect(peersFileText(north)).toBe(before)
    expect(connected(north, southId)).toBe(true)
    const [view] = (await callApi<{ peers: PeerView[] }>(north, 'GET', '/v1/peers')).json.peers
    expect(view).toMatchObject({ id: southId, paused: false, share: SHARE_EVERYTHING })
  })
})

describe('PATCH /v1/peers/:id', () => {
  it('renames a peer, in peers.json too', async () => {
    const renamed = await patchPeer(north, southId, { name: 'South branch' })
    expect(renamed.status).toBe(200)
    expect(renamed.json).toMatchObject({ id: southId, name: 'South branch', paused: false })
    expect(peersFile(north).peers).toMatchObject([{ id: southId, name: 'South branch' }])
    expect((await patchPeer(north, southId, { name: 'South office' })).status).toBe(200)
  })

  it('pauses a peer: no session either way, its streams refused, until resumed', async () => {
    const paused = await patchPeer(north, southId, { paused: true })
    expect(paused.status).toBe(200)
    expect(paused.json).toMatchObject({ id: southId, paused: true, connected: false })
    expect(peersFile(north).peers[0]).toMatchObject({ id: southId, paused: true })
    await eventually(() => !connected(south, northId), 10_000)

    await create(south, 'person', { firstName: 'Pia', lastName: 'Paused' })
    await create(north, 'person', { firstName: 'Per', lastName: 'Paused' })
    // South keeps dialling; north refuses each sync stream it opens.
    await expect(south.daemon.instance.links.connect(northId)).rejects.toMatchObject({
      code: 'PEER_REFUSED',
    })
    await sleep(1500)
    expect(connected(north, southId)).toBe(false)
    expect(connected(south, northId)).toBe(false)
    expect(await holds(north, 'person', 'Pia Paused')).toBe(false)
    expect(await holds(south, 'person', 'Per Paused')).toBe(false)

    const resumed = await patchPeer(north, southId, { paused: false })
    expect(resumed.status).toBe(200)
    expect(resumed.json.paused).toBe(false)
    expect(peersFile(north).peers[0]).not.toHaveProperty('paused')
    await eventually(
      async () =>
        (await holds(north, 'person', 'Pia Paused')) && holds(south, 'person', 'Per Paused'),
      15_000,
    )
    expect(connected(north, southId)).toBe(true)
  })

  it('narrows and widens what the peer gets without a restart, as the preview said', async () => {
    const personsShared = (await labels(north, 'person')).length
    expect(personsShared).toBeGreaterThan(0)
    const before = peersFileText(north)
    // Only organizations: every person stops being shared, none is sent.
    const narrowing = await preview(north, southId, { organization: {} })
    expect(narrowing.status).toBe(200)
    expect(narrowing.json).toMatchObject({ send: {}, withdraw: { person: personsShared } })
    expect(narrowing.json.examples.send).toEqual([])
    expect(narrowing.json.examples.withdraw).toHaveLength(Math.min(5, personsShared))
    expect(narrowing.json.examples.withdraw.map((each) => each.label)).toContain('Pia Paused')
    expect(peersFileText(north)).toBe(before)

    const saved = await patchPeer(north, southId, { share: { organization: {} } })
    expect(saved.status).toBe(200)
    expect(saved.json).toMatchObject({ share: { organization: {} }, paused: false })
    expect(peersFile(north).peers[0]!.share).toEqual({ organization: {} })

    await create(north, 'person', { firstName: 'Nils', lastName: 'Narrow' })
    await create(north, 'organization', { name: 'Narrow AS' })
    // Sent in feed order: once the organization is there, the person would have been too.
    await eventually(() => holds(south, 'organization', 'Narrow AS'), 15_000)
    expect(await holds(south, 'person', 'Nils Narrow')).toBe(false)

    // Widening to partners: only they would go, and only they arrive.
    await create(north, 'person', { firstName: 'Paula', lastName: 'Partner', roles: ['partner'] })
    await create(north, 'person', { firstName: 'Peder', lastName: 'Partner', roles: ['partner'] })
    await create(north, 'person', { firstName: 'Olga', lastName: 'Other', roles: ['staff'] })
    const partners = { organization: {}, person: { roles: ['partner'] } }
    const widening = await preview(north, southId, partners)
    expect(widening.status).toBe(200)
    expect(widening.json).toMatchObject({ send: { person: 2 }, withdraw: {} })
    expect(widening.json.examples.send.map((each) => each.label).sort()).toEqual([
      'Paula Partner',
      'Peder Partner',
    ])
    expect(widening.json.examples.send.every((each) => each.type === 'person')).toBe(true)
    const beforeWidening = peersFileText(north)
    await preview(north, southId, partners)
    expect(peersFileText(north)).toBe(beforeWidening)

    expect((await patchPeer(north, southId, { share: partners })).status).toBe(200)
    expect(peersFile(north).peers[0]!.share).toEqual(partners)
    await eventually(
      async () =>
        (await holds(south, 'person', 'Paula Partner')) && holds(south, 'person', 'Peder Partner'),
      15_000,
    )
    await create(north, 'organization', { name: 'Later AS' })
    await eventually(() => holds(south, 'organization', 'Later AS'), 15_000)
    expect(await holds(south, 'person', 'Olga Other')).toBe(false)
    expect(await holds(south, 'person', 'Nils Narrow')).toBe(false)

    // Back to everything: what was held back is sent now.
    // Sent again too: those it held before the narrowing (they may have changed since).
    const everything = await preview(north, southId, SHARE_EVERYTHING)
    expect(everything.json).toMatchObject({ send: { person: 4 }, withdraw: {} })
    expect((await patchPeer(north, southId, { share: SHARE_EVERYTHING })).status).toBe(200)
    await eventually(
      async () =>
        (await holds(south, 'person', 'Olga Other')) && holds(south, 'person', 'Nils Narrow'),
      15_000,
    )
  }, 60_000)
})

describe('objectsync pause / resume', () => {
  const cli = (...args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bin/objectsync.js', ...args, '--dir', north.dir],
        { encoding: 'utf8' },
        (error, stdout, stderr) =>
          resolve({ status: error === null ? 0 : Number(error.code), stdout, stderr }),
      )
    })

  it('pause and resume a peer named by its name', async () => {
    const paused = await cli('pause', 'south  OFFICE')
    expect(paused.stderr).toBe('')
    expect(paused.stdout.trim()).toBe(`paused South office (${southId})`)
    expect(peersFile(north).peers[0]).toMatchObject({ paused: true })
    expect(connected(north, southId)).toBe(false)
    const listed = await cli('peers')
    expect(listed.stdout).toContain(`South office (${southId}): paused`)

    const resumed = await cli('resume', southId, '--json')
    expect(resumed.status).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id: southId, paused: false })
    expect(peersFile(north).peers[0]).not.toHaveProperty('paused')
    await eventually(() => connected(north, southId), 15_000)

    const unknown = await cli('pause', 'Nobody')
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toContain('PEER_NOT_FOUND')
  }, 60_000)
})

describe('a paused peer', () => {
  it('stays paused across a restart, its streams refused and said once in the log', async () => {
    const paused = await patchPeer(north, southId, { paused: true, share: SHARE_EVERYTHING })
    expect(paused.json).toMatchObject({ paused: true, share: SHARE_EVERYTHING })
    const port = /\/tcp\/(\d+)/.exec(north.daemon.instance.transport.addresses()[0]!)![1]!
    await north.daemon.stop()
    const { logger, lines } = captureLogger()
    north = {
      ...north,
      // On the same port: south dials north where it was.
      daemon: await runDaemon(
        north.dir,
        parseConfig({
          name: 'North office',
          listen: [`/ip4/127.0.0.1/tcp/${port}`],
          api: { port: 0 },
        }),
        logger,
      ),
    }
    await create(south, 'person', { firstName: 'Rita', lastName: 'Restart' })
    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(south.daemon.instance.links.connect(northId)).rejects.toMatchObject({
        code: 'PEER_REFUSED',
      })
    }
    await sleep(1000)
    expect(connected(north, southId)).toBe(false)
    expect(connected(south, northId)).toBe(false)
    expect(await holds(north, 'person', 'Rita Restart')).toBe(false)
    const refusals = lines.filter((line) => String(line.msg).includes('from a paused peer refused'))
    expect(refusals).toHaveLength(1)
    const [view] = (await callApi<{ peers: PeerView[] }>(north, 'GET', '/v1/peers')).json.peers
    expect(view).toMatchObject({ id: southId, paused: true, connected: false })

    expect((await patchPeer(north, southId, { paused: false })).status).toBe(200)
    await eventually(() => holds(north, 'person', 'Rita Restart'), 15_000)
  }, 60_000)
})
