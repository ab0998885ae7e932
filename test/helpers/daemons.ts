// A daemon of its own for API and page tests: a new data folder (init), listening on
// loopback with the API on a free port, and the token the API asks for.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseConfig } from '../../daemon/config.ts'
import { initInstance } from '../../daemon/init.ts'
import { runDaemon, type Daemon } from '../../daemon/run.ts'
import { silentLogger } from '../../src/log.ts'
import { tempDir } from './stores.ts'

export interface TestDaemon {
  daemon: Daemon
  dir: string
  token: string
}

/** Starts a daemon named `name` in a new folder; `config` adds to its config.json. */
export async function startTestDaemon(
  name: string,
  config: Record<string, unknown> = {},
): Promise<TestDaemon> {
  const dir = tempDir('daemon')
  await initInstance(dir, { name })
  const parsed = parseConfig({
    name,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    api: { port: 0 },
    ...config,
  })
  return {
    daemon: await runDaemon(dir, parsed, silentLogger),
    dir,
    token: readFileSync(join(dir, 'api-token'), 'utf8').trim(),
  }
}

export interface ApiCallOptions {
  body?: unknown
  headers?: Record<string, string>
  /** Sent as the body as it is (a malformed one, say), instead of `body` as JSON. */
  raw?: string
}

/** One API request through fastify's inject, with the token; the answer's status and JSON. */
export async function callApi<Json = Record<string, unknown>>(
  at: Pick<TestDaemon, 'daemon' | 'token'>,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  options: ApiCallOptions = {},
): Promise<{ status: number; json: Json }> {
  const payload =
    options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
  const response = await at.daemon.api.inject({
    method,
    url,
    headers: {
      host: `127.0.0.1:${at.daemon.apiPort}`,
      authorization: `Bearer ${at.token}`,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(payload === undefined ? {} : { payload }),
  })
  return {
    status: response.statusCode,
    json: (response.body === '' ? undefined : JSON.parse(response.body)) as Json,
  }
}
