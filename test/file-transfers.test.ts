// File transfers as the API and /metrics show them: two daemons on loopback, a file's
// content uploaded at one reaches the other, and each side counts its bytes per peer.
import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PeerView } from '../daemon/events.ts'
import { callApi, startTestDaemon, type TestDaemon } from './helpers/daemons.ts'
import { eventually } from './helpers/sync-nodes.ts'

async function peers(node: TestDaemon): Promise<PeerView[]> {
  return (await callApi<{ peers: PeerView[] }>(node, 'GET', '/v1/peers')).json.peers
}

async function metrics(node: TestDaemon): Promise<string> {
  const response = await node.daemon.api.inject({
    method: 'GET',
    url: '/metrics',
    headers: { host: `127.0.0.1:${node.daemon.apiPort}`, authorization: `Bearer ${node.token}` },
  })
  expect(response.statusCode).toBe(200)
  return response.body
}

/** The sample of `metric` with exactly `labels`, as the text format writes it. */
function sample(text: string, metric: string, labels: string): number | undefined {
  const line = text.split('\n').find((each) => each.startsWith(`${metric}{${labels}} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** A person and their file, the content uploaded through the API; the content's sha256. */
async function uploadFile(node: TestDaemon, content: Uint8Array): Promise<string> {
  const uploaded = await fetch(`http://127.0.0.1:${node.daemon.apiPort}/v1/blobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/octet-stream' },
    body: content,
  })
  expect(uploaded.status).toBe(201)
  const { sha256 } = (await uploaded.json()) as { sha256: string }
  const owner = await callApi<{ id: string }>(node, 'POST', '/v1/objects', {
    body: { type: 'person', fields: { firstName: 'Kari', lastName: 'Nordmann' } },
  })
  const file = await callApi(node, 'POST', '/v1/objects', {
    body: {
      type: 'file',
      fields: { ownerId: owner.json.id, kind: 'resume', name: 'cv.pdf', sha256 },
    },
  })
  expect(file.status).toBe(201)
  return sha256
}

describe('file transfers per peer', { timeout: 60_000 }, () => {
  let north: TestDaemon
  let south: TestDaemon

  beforeAll(async () => {
    north = await startTestDaemon('north')
    south = await startTestDaemon('south')
    const invite = await callApi<{ token: string }>(north, 'POST', '/v1/invites', { body: {} })
    const paired = await callApi(south, 'POST', '/v1/pair', { body: { token: invite.json.token } })
    expect(paired.status).toBe(201)
  })

  afterAll(async () => {
    await Promise.all([north?.daemon.stop(), south?.daemon.stop()])
  })

  it('shows the bytes each way in /v1/peers and /metrics', async () => {
    const content = randomBytes(700 * 1024)
    const sha256 = await uploadFile(north, content)
    expect(sha256).toBe(createHash('sha256').update(content).digest('hex'))
    const held = () => south.daemon.instance.store.blobs.has(sha256)
    await eventually(held, 30_000)
    // The file is held a moment before its transfer is counted as ended.
    await eventually(async () => (await peers(south))[0]!.transfers.active.length === 0)

    const [fromNorth] = await peers(south)
    expect(fromNorth!.name).toBe('north')
    expect(fromNorth!.transfers).toMatchObject({
      active: [],
      bytesIn: content.length,
      bytesOut: 0,
      failed: 0,
    })
    // It finished a moment ago: within the rate's window of a few seconds.
    expect(fromNorth!.transfers.rateIn).toBeGreaterThan(0)
    const southMetrics = await metrics(south)
    const northLabels = `peer="${fromNorth!.id}",name="north"`
    expect(
      sample(southMetrics, 'objectsync_file_transfer_bytes_total', `${northLabels},direction="in"`),
    ).toBe(content.length)
    expect(
      sample(
        southMetrics,
        'objectsync_file_transfer_bytes_total',
        `${northLabels},direction="out"`,
      ),
    ).toBe(0)
    expect(sample(southMetrics, 'objectsync_file_transfers_active', northLabels)).toBe(0)
    expect(sample(southMetrics, 'objectsync_file_transfers_failed_total', northLabels)).toBe(0)

    // The serving side ends its transfer once it sent the last chunk.
    await eventually(async () => (await peers(north))[0]!.transfers.active.length === 0)
    const [toSouth] = await peers(north)
    expect(toSouth!.transfers).toMatchObject({ bytesIn: 0, bytesOut: content.length, failed: 0 })
    const southLabels = `peer="${toSouth!.id}",name="south"`
    expect(
      sample(
        await metrics(north),
        'objectsync_file_transfer_bytes_total',
        `${southLabels},direction="out"`,
      ),
    ).toBe(content.length)
  })
})
