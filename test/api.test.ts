// The HTTP API of a running daemon (store, SQLite local system, libp2p): auth, Host and
// Origin, limits, bodies and queries, every route of this slice, and each error code.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import Database from 'better-sqlite3'
import { beforeAll, afterAll, describe, expect, it, onTestFinished } from 'vitest'
import { parseConfig } from '../daemon/config.ts'
import { initInstance } from '../daemon/init.ts'
import { runDaemon, type Daemon } from '../daemon/run.ts'
import { silentLogger } from '../src/log.ts'
import { tempDir } from './helpers/stores.ts'
import { callApi, startTestDaemon, type ApiCallOptions } from './helpers/daemons.ts'
import { readEvents } from './helpers/events.ts'
import { eventually } from './helpers/sync-nodes.ts'

let daemon: Daemon
let token: string
let dir: string

beforeAll(async () => {
  ;({ daemon, dir, token } = await startTestDaemon('API test', {
    files: { maxBytes: 1024 * 1024 },
  }))
})
afterAll(async () => {
  await daemon.stop()
})

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE'
/** A JSON answer, read loosely: the assertions say what it must hold. */
type Json = Record<string, unknown> & {
  id?: string
  items?: { id: string }[]
  changes?: { id: string }[]
  fields?: Record<string, unknown>
  custom?: Record<string, unknown>
  incoming?: unknown[]
  outgoing?: { export: unknown }[]
}

const call = (method: Method, url: string, options: ApiCallOptions = {}) =>
  callApi<Json>({ daemon, token }, method, url, options)

interface OpenApiOperation {
  security?: unknown[]
  parameters: { name: string; required: boolean }[]
  requestBody?: {
    content: { 'application/json': { schema: { properties: { type: { enum: string[] } } } } }
  }
}

/** The routes INTERFACE.md lists. */
const INTERFACE_ROUTES = [
  'GET /healthz',
  'GET /v1/status',
  'GET /v1/peers',
  'POST /v1/invites',
  'POST /v1/pair',
  'DELETE /v1/peers/{id}',
  'GET /v1/objects',
  'GET /v1/objects/{id}',
  'POST /v1/objects',
  'PATCH /v1/objects/{id}',
  'DELETE /v1/objects/{id}',
  'GET /v1/changes',
  'GET /v1/events',
  'GET /v1/conflicts',
  'POST /v1/conflicts/{id}/resolve',
  'GET /v1/matches',
  'POST /v1/matches/{id}/link',
  'POST /v1/matches/{id}/separate',
  'GET /metrics',
  'GET /',
]

const errorOf = (response: { json: Json }) =>
  (response.json as { error: { code: string; message: string } }).error

describe('the HTTP API', () => {
  it('answers /healthz without a token, and everything else only with it', async () => {
    expect(await call('GET', '/healthz', { headers: { authorization: '' } })).toEqual({
      status: 200,
      json: { ok: true },
    })
    const none = await call('GET', '/v1/status', { headers: { authorization: '' } })
    expect(none.status).toBe(401)
    expect(errorOf(none).code).toBe('UNAUTHORIZED')
    const wrong = await call('GET', '/v1/status', {
      headers: { authorization: `Bearer ${token}x` },
    })
    expect(errorOf(wrong).code).toBe('UNAUTHORIZED')
    const status = await call('GET', '/v1/status')
    expect(status.status).toBe(200)
    expect(status.json).toMatchObject({
      id: daemon.instance.id,
      name: 'API test',
      objects: { person: 0, organization: 0, transaction: 0, file: 0 },
      peers: [],
      conflicts: 0,
      matches: 0,
    })
  })

  it('refuses a foreign Host (DNS rebinding) or Origin (another site), even with the token', async () => {
    const rebinding = await call('GET', '/v1/status', { headers: { host: 'evil.example:7420' } })
    expect(rebinding.status).toBe(403)
    expect(errorOf(rebinding).code).toBe('FORBIDDEN')
    const otherPort = await call('GET', '/healthz', { headers: { host: '127.0.0.1:1' } })
    expect(otherPort.status).toBe(403)
    const site = await call('POST', '/v1/objects', {
      headers: { origin: 'https://evil.example' },
      body: { type: 'person', fields: { firstName: 'X', lastName: 'Y' } },
    })
    expect(site.status).toBe(403)
    expect((await daemon.instance.store.list('person')).items).toEqual([])
    const ownPage = await call('GET', '/v1/status', {
      headers: {
        origin: `http://localhost:${daemon.apiPort}`,
        host: `localhost:${daemon.apiPort}`,
      },
    })
    expect(ownPage.status).toBe(200)
  })

  it('creates, reads, changes, lists and deletes objects, and shows them in the feed', async () => {
    const created = await call('POST', '/v1/objects', {
      body: {
        type: 'person',
        fields: { firstName: 'Anna', lastName: 'Berg' },
        custom: { level: 'gold' },
      },
    })
    expect(created.status).toBe(201)
    const id = created.json.id!
    expect(created.json).toMatchObject({
      type: 'person',
      fields: { firstName: 'Anna' },
      deleted: false,
    })
    const patched = await call('PATCH', `/v1/objects/${id}`, {
      body: { fields: { email: 'anna@example.org' } },
    })
    expect(patched.json.fields).toMatchObject({ firstName: 'Anna', email: 'anna@example.org' })
    expect((await call('GET', `/v1/objects/${id}`)).json.custom).toEqual({ level: 'gold' })
    const page = await call('GET', '/v1/objects?type=person&limit=10')
    expect(page.json.items!.map((item) => item.id)).toEqual([id])
    const changes = await call('GET', '/v1/changes?since=0')
    expect(changes.json.changes!.some((change) => change.id === id)).toBe(true)
    expect(changes.json.last).toBe(daemon.instance.store.lastSeq)
    // Written into the local system too.
    const sql = new Database(join(dir, 'local.db'), { readonly: true })
    await eventually(
      () => sql.prepare('SELECT email FROM persons WHERE id = ?').get(id) !== undefined,
      3000,
    )
    sql.close()
    expect((await call('DELETE', `/v1/objects/${id}`)).status).toBe(204)
    const again = await call('PATCH', `/v1/objects/${id}`, { body: { fields: { title: 'Dr' } } })
    expect(again.status).toBe(409)
    expect(errorOf(again).code).toBe('OBJECT_DELETED')
  })

  it('merges two objects, answers where a merged one went, and undoes it', async () => {
    const make = async (email: string) =>
      (
        await call('POST', '/v1/objects', {
          body: {
            type: 'transaction',
            fields: { type: 'pledge', date: '2026-03-01', description: email },
          },
        })
      ).json.id!
    const [small, large] = [await make('a'), await make('b')].sort() as [string, string]
    const before = daemon.instance.store.lastSeq
    const refused = await call('POST', `/v1/objects/${large}/merge`, { body: { with: 'nope' } })
    expect(refused.status).toBe(400)
    expect(errorOf(refused)).toMatchObject({ code: 'INVALID_REQUEST' })
    expect(errorOf(refused).message).toContain('body.with')
    expect(daemon.instance.store.lastSeq).toBe(before)
    const merged = await call('POST', `/v1/objects/${large}/merge`, { body: { with: small } })
    expect(merged.status).toBe(200)
    expect(merged.json).toMatchObject({ id: small, merged: [large] })
    expect((await call('GET', `/v1/objects/${large}`)).json).toMatchObject({ mergedInto: small })
    const unmerged = await call('POST', `/v1/objects/${large}/unmerge`)
    expect(unmerged.status).toBe(200)
    expect(unmerged.json.mergedInto).toBeUndefined()
    expect((await call('GET', `/v1/objects/${small}`)).json.merged).toBeUndefined()
    const again = await call('POST', `/v1/objects/${large}/unmerge`)
    expect(again.status).toBe(409)
    expect(errorOf(again).code).toBe('INVALID_MERGE')
  })

  it('says what is wrong with a body, a query or a route, and changes nothing', async () => {
    const before = daemon.instance.store.lastSeq
    const cases: [Method, string, { body?: unknown; raw?: string }, number, string, string][] = [
      [
        'POST',
        '/v1/objects',
        { body: { type: 'planet', fields: {} } },
        400,
        'INVALID_REQUEST',
        'body.type: expected one of person',
      ],
      [
        'POST',
        '/v1/objects',
        { body: { type: 'person', fields: {}, colour: 1 } },
        400,
        'INVALID_REQUEST',
        'body: unknown "colour"',
      ],
      [
        'POST',
        '/v1/objects',
        { body: { type: 'person', fields: { firstName: 1 } } },
        400,
        'INVALID_OBJECT',
        'firstName',
      ],
      ['POST', '/v1/objects', { raw: '{"type": ' }, 400, 'INVALID_REQUEST', 'JSON'],
      ['GET', '/v1/objects?type=person&limit=0', {}, 400, 'INVALID_REQUEST', 'query.limit'],
      ['GET', '/v1/objects', {}, 400, 'INVALID_REQUEST', 'query.type'],
      ['GET', '/v1/changes?since=-1', {}, 400, 'INVALID_REQUEST', 'query.since'],
      ['GET', '/v1/objects/0000000000000000000000000A', {}, 404, 'OBJECT_NOT_FOUND', 'no object'],
      [
        'POST',
        '/v1/matches/0000000000000000000000000A/separate',
        {},
        404,
        'MATCH_NOT_FOUND',
        'review queue',
      ],
      [
        'POST',
        '/v1/conflicts/0000000000000000000000000A/resolve',
        { body: { field: 'firstName', by: 'x', at: 1 } },
        404,
        'CONFLICT_NOT_FOUND',
        '',
      ],
      ['GET', '/v1/nothing', {}, 404, 'NOT_FOUND', 'no route GET /v1/nothing'],
      [
        'POST',
        '/v1/pair',
        { body: { token: 'os1.AAAA', name: '' } },
        400,
        'INVALID_REQUEST',
        'body.name',
      ],
      [
        'POST',
        '/v1/invites',
        { body: { expires: 'soon' } },
        400,
        'INVALID_REQUEST',
        'body.expires',
      ],
    ]
    for (const [method, url, options, status, code, message] of cases) {
      const response = await call(method, url, options)
      expect({ url, status: response.status, code: errorOf(response).code }).toEqual({
        url,
        status,
        code,
      })
      expect(errorOf(response).message).toContain(message)
    }
    const huge = await call('POST', '/v1/objects', {
      body: { type: 'person', fields: { firstName: 'x'.repeat(2 * 1024 * 1024), lastName: 'Y' } },
    })
    expect(huge.status).toBe(413)
    expect(errorOf(huge).code).toBe('BODY_TOO_LARGE')
    expect(daemon.instance.store.lastSeq).toBe(before)
    // Nor was anyone paired.
    expect(daemon.instance.registry.list()).toEqual([])
    expect(JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8'))).toEqual({ peers: [] })
  })

  it("refuses what the fuzzer found answered with a 500 or in fastify's own shape", async () => {
    const before = (await call('GET', '/v1/changes?since=0')).json
    const cases: [Method, string, ApiCallOptions, number, string][] = [
      ['GET', '/v1/objects/%c3%28', {}, 400, 'INVALID_REQUEST'],
      ['GET', `/v1/objects/${'A'.repeat(101)}`, {}, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/invites', { body: { expires: '366d' } }, 400, 'INVALID_REQUEST'],
      [
        'POST',
        '/v1/objects',
        { raw: '{"type":"person","fields":{"firstName":"\\ud800x","lastName":"L"}}' },
        400,
        'INVALID_OBJECT',
      ],
    ]
    for (const [method, url, options, status, code] of cases) {
      const { status: got, json } = await call(method, url, options)
      expect([url, got, (json.error as { code?: string } | undefined)?.code]).toEqual([
        url,
        status,
        code,
      ])
    }
    expect((await call('GET', '/v1/changes?since=0')).json).toEqual(before)
  })

  it('lists matches and peers, and plans the next run without writing', async () => {
    expect((await call('GET', '/v1/matches')).json).toEqual({ matches: [] })
    expect((await call('GET', '/v1/peers')).json).toEqual({ peers: [] })
    const before = daemon.instance.store.lastSeq
    const plan = await call('GET', '/v1/plan?limit=5')
    expect(plan.status).toBe(200)
    // No peers: local edits not taken in yet are listed once, for any peer (none now).
    expect(plan.json.incoming).toEqual([])
    expect(plan.json.outgoing).toHaveLength(1)
    expect(plan.json.outgoing![0]!.export).toEqual({ count: 0, items: [] })
    expect(daemon.instance.store.lastSeq).toBe(before)
  })

  it('describes every route of INTERFACE.md in /openapi.json, with bodies and queries', async () => {
    const response = await call('GET', '/openapi.json', { headers: { authorization: '' } })
    expect(response.status).toBe(200)
    const document = response.json as unknown as {
      openapi: string
      paths: Record<string, Record<string, OpenApiOperation>>
    }
    expect(document.openapi).toBe('3.1.0')
    const listed = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    )
    for (const route of INTERFACE_ROUTES) expect(listed).toContain(route)
    // And nothing described that the daemon does not answer.
    for (const route of listed) {
      const [method, path] = route.split(' ') as [Method, string]
      expect(daemon.api.hasRoute({ method, url: path.replace(/\{(\w+)\}/g, ':$1') })).toBe(true)
    }
    const create = document.paths['/v1/objects']!.post!
    expect(create.requestBody?.content['application/json'].schema.properties.type.enum).toEqual([
      'person',
      'organization',
      'transaction',
      'file',
    ])
    const list = document.paths['/v1/objects']!.get!.parameters
    const named = list.map(({ name, required }) => `${name}${required ? '!' : ''}`)
    expect(named).toEqual(['type', 'q', 'limit', 'after'])
    expect(document.paths['/healthz']!.get!.security).toEqual([])
  })

  it('serves the status page without the token, with a strict content policy', async () => {
    const page = await daemon.api.inject({
      method: 'GET',
      url: '/',
      headers: { host: `127.0.0.1:${daemon.apiPort}` },
    })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toContain('text/html')
    expect(page.headers['content-security-policy']).toContain("default-src 'self'")
    expect(page.body).toContain('<script type="module" src="/status.js">')
    const script = await daemon.api.inject({
      method: 'GET',
      url: '/status.js',
      headers: { host: `127.0.0.1:${daemon.apiPort}` },
    })
    expect(script.headers['content-type']).toContain('text/javascript')
    // The icon a browser asks for by itself is there too, without the token.
    for (const url of ['/favicon.ico', '/favicon.svg']) {
      const icon = await daemon.api.inject({
        method: 'GET',
        url,
        headers: { host: `127.0.0.1:${daemon.apiPort}` },
      })
      expect(icon.statusCode).toBe(200)
      expect(icon.headers['content-type']).toContain('image/svg+xml')
      expect(icon.body).toContain('<svg')
    }
    // The page holds no data; the API behind it still wants the token, and Host is checked.
    const foreign = await daemon.api.inject({
      method: 'GET',
      url: '/',
      headers: { host: 'attacker.example:80' },
    })
    expect(foreign.statusCode).toBe(403)
  })

  it('reports metrics in Prometheus format, only with the token', async () => {
    expect((await call('GET', '/metrics', { headers: { authorization: '' } })).status).toBe(401)
    const response = await daemon.api.inject({
      method: 'GET',
      url: '/metrics',
      headers: { host: `127.0.0.1:${daemon.apiPort}`, authorization: `Bearer ${token}` },
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toContain('text/plain')
    const persons = await daemon.instance.store.count('person')
    expect(response.body).toContain(`objectsync_objects{type="person"} ${persons}`)
    expect(response.body).toContain(`objectsync_feed_sequence ${daemon.instance.store.lastSeq}`)
    expect(response.body).toContain('# TYPE objectsync_sync_duration_seconds histogram')
    expect(response.body).toContain('# TYPE objectsync_frames_refused_total counter')
    expect(response.body).toContain('# TYPE objectsync_facets_refused_total counter')
    expect(response.body).toMatch(/^objectsync_process_resident_memory_bytes \d+/m)
  })

  it('streams changes as server-sent events as they are committed', async () => {
    const controller = new AbortController()
    const response = await fetch(`http://127.0.0.1:${daemon.apiPort}/v1/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/event-stream')
    const events = readEvents(response)
    const created = await call('POST', '/v1/objects', {
      body: { type: 'person', fields: { firstName: 'Evented', lastName: 'Stream' } },
    })
    expect(created.status).toBe(201)
    const seen = await events.until((event) => event.event === 'change')
    expect(seen.data).toMatchObject({
      changes: [{ id: created.json.id, type: 'person', seq: daemon.instance.store.lastSeq }],
      last: daemon.instance.store.lastSeq,
      more: false,
    })
    controller.abort()
    await eventually(() => daemon.events.listenerCount === 0)
  })

  it('refuses an event stream without the token', async () => {
    const response = await fetch(`http://127.0.0.1:${daemon.apiPort}/v1/events`)
    expect(response.status).toBe(401)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED')
  })

  it('listens on loopback for real', async () => {
    const response = await fetch(`http://127.0.0.1:${daemon.apiPort}/v1/status`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(response.status).toBe(200)
    expect(((await response.json()) as { id: string }).id).toBe(daemon.instance.id)
  })
})

describe('event streams and stopping', () => {
  it('stops promptly while a client holds an event stream it no longer reads', async () => {
    const stalledDir = tempDir('api-stalled')
    await initInstance(stalledDir, { name: 'Stalled' })
    const stalledToken = readFileSync(join(stalledDir, 'api-token'), 'utf8').trim()
    const running = await runDaemon(
      stalledDir,
      parseConfig({ name: 'Stalled', listen: ['/ip4/127.0.0.1/tcp/0'], api: { port: 0 } }),
      silentLogger,
      { eventBufferBytes: 64 * 1024 },
    )
    // A raw client: asks for the stream, then never reads a byte of it.
    const socket = connect(running.apiPort, '127.0.0.1')
    onTestFinished(() => {
      socket.destroy()
    })
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    socket.pause()
    socket.write(
      `GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:${running.apiPort}\r\nAuthorization: Bearer ${stalledToken}\r\n\r\n`,
    )
    await eventually(() => running.events.listenerCount === 1)
    // Enough feed entries to fill the socket's buffers and then the stream's own: a
    // touch is the cheapest entry there is.
    const people = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        running.instance.store.create({
          type: 'person',
          fields: { firstName: `P${index}`, lastName: 'Stalled' },
        }),
      ),
    )
    for (let round = 0; round < 1000 && running.events.listenerCount > 0; round++) {
      await Promise.all(people.map((person) => running.instance.store.touch(person.id)))
    }
    // The slow client was cut off; it does not hold the daemon back from stopping.
    expect(running.events.listenerCount).toBe(0)
    const started = Date.now()
    await running.stop()
    expect(Date.now() - started).toBeLessThan(5000)
  }, 60_000)
})

describe('file contents', () => {
  const url = () => `http://127.0.0.1:${daemon.apiPort}`
  const headers = () => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/octet-stream',
  })
  const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
  const uploaded = new Set<string>()

  /** What the blob store holds beyond the blobs uploaded here: nothing, or leftovers. */
  async function leftovers() {
    const collected = await daemon.instance.store.blobs.collect(uploaded)
    return { blobs: collected.blobs.length, chunks: collected.chunks }
  }

  it('stores content over HTTP and gives it back byte for byte', async () => {
    const content = randomBytes(300 * 1024 + 7)
    const stored = await fetch(`${url()}/v1/blobs`, {
      method: 'POST',
      headers: headers(),
      body: content,
    })
    expect(stored.status).toBe(201)
    expect(await stored.json()).toEqual({ sha256: sha(content), size: content.length })
    uploaded.add(sha(content))
    const read = await fetch(`${url()}/v1/blobs/${sha(content)}`, { headers: headers() })
    expect(read.status).toBe(200)
    expect(read.headers.get('content-type')).toBe('application/octet-stream')
    expect(Buffer.from(await read.arrayBuffer()).equals(content)).toBe(true)
  })

  it('refuses content over files.maxBytes, announced or streamed, and keeps nothing of it', async () => {
    const big = randomBytes(1024 * 1024 + 1)
    const announced = await fetch(`${url()}/v1/blobs`, {
      method: 'POST',
      headers: headers(),
      body: big,
    })
    expect(announced.status).toBe(413)
    expect(((await announced.json()) as Json).error).toMatchObject({ code: 'BLOB_TOO_LARGE' })
    // Without a length: refused once the limit is passed, after chunks were written.
    const streamed = await fetch(`${url()}/v1/blobs`, {
      method: 'POST',
      headers: headers(),
      body: Readable.toWeb(
        Readable.from([big.subarray(0, 600_000), big.subarray(600_000)]),
      ) as ReadableStream,
      duplex: 'half',
    })
    expect(streamed.status).toBe(413)
    expect(((await streamed.json()) as Json).error).toMatchObject({ code: 'BLOB_TOO_LARGE' })
    expect(await leftovers()).toEqual({ blobs: 0, chunks: 0 })
    expect((await fetch(`${url()}/v1/blobs/${sha(big)}`, { headers: headers() })).status).toBe(404)
  })

  it('refuses content that does not hash to the sha256 given, and other bodies', async () => {
    const content = randomBytes(1000)
    const wrong = await fetch(`${url()}/v1/blobs?sha256=${'0'.repeat(64)}`, {
      method: 'POST',
      headers: headers(),
      body: content,
    })
    expect(wrong.status).toBe(422)
    expect(((await wrong.json()) as Json).error).toMatchObject({ code: 'BLOB_MISMATCH' })
    expect(await leftovers()).toEqual({ blobs: 0, chunks: 0 })
    const json = await call('POST', '/v1/blobs', { body: { content: 'x' } })
    expect(json.status).toBe(400)
    expect(json.json.error).toMatchObject({ code: 'INVALID_REQUEST' })
    const badQuery = await call('POST', '/v1/blobs?sha256=XYZ', {
      raw: 'x',
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(badQuery.json.error).toMatchObject({ code: 'INVALID_REQUEST' })
    expect((await call('GET', `/v1/blobs/${sha(content)}`)).json.error).toMatchObject({
      code: 'BLOB_NOT_FOUND',
    })
  })

  it('creates a file object only for content held here, with its size', async () => {
    const content = randomBytes(2048)
    await fetch(`${url()}/v1/blobs`, { method: 'POST', headers: headers(), body: content })
    uploaded.add(sha(content))
    const created = await call('POST', '/v1/objects', {
      body: { type: 'file', fields: { name: 'cv.pdf', kind: 'resume', sha256: sha(content) } },
    })
    expect(created.status).toBe(201)
    expect(created.json.fields).toMatchObject({ sha256: sha(content), size: 2048 })
    const missing = await call('POST', '/v1/objects', {
      body: { type: 'file', fields: { name: 'x.pdf', sha256: sha(randomBytes(4)) } },
    })
    expect(missing.status).toBe(404)
    expect(missing.json.error).toMatchObject({ code: 'BLOB_NOT_FOUND' })
    const wrongSize = await call('PATCH', `/v1/objects/${created.json.id!}`, {
      body: { fields: { sha256: sha(content), size: 5 } },
    })
    expect(wrongSize.status).toBe(400)
    expect(wrongSize.json.error).toMatchObject({ code: 'INVALID_OBJECT' })
    const sizeAlone = await call('PATCH', `/v1/objects/${created.json.id!}`, {
      body: { fields: { size: 7 } },
    })
    expect(sizeAlone.json.error).toMatchObject({ code: 'INVALID_OBJECT' })
    const renamed = await call('PATCH', `/v1/objects/${created.json.id!}`, {
      body: { fields: { name: 'cv-2026.pdf' } },
    })
    expect(renamed.status).toBe(200)
    expect((await call('GET', `/v1/objects/${created.json.id!}`)).json.fields).toMatchObject({
      size: 2048,
    })
    // Content taken away: the size goes with it.
    const cleared = await call('PATCH', `/v1/objects/${created.json.id!}`, {
      body: { fields: { sha256: null } },
    })
    expect(cleared.json.fields).not.toHaveProperty('size')
    expect(cleared.json.fields).not.toHaveProperty('sha256')
  })
})
