// The daemon as `start` runs it: the instance, then the HTTP API on loopback; stopped in
// reverse (the API stops accepting first, then the instance finishes and closes).
import { readFile, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from '../src/log.ts'
import { createApi } from './api/index.ts'
import { EventHub } from './events.ts'
import type { InstanceConfig } from './config.ts'
import { API_TOKEN_FILE, RUNTIME_FILE } from './data-files.ts'
import { refuseSecondDaemon, refuseTakenPorts } from './ports.ts'
import { startInstance, type Instance, type StartHooks } from './instance.ts'

/** DIR/daemon.json while the daemon runs: its pid and the API's port. */
export { RUNTIME_FILE }

export interface Daemon {
  instance: Instance
  api: FastifyInstance
  events: EventHub
  /** The port the API listens on (the configured one, or the one given for 0). */
  apiPort: number
  stop(): Promise<void>
}

export async function runDaemon(
  dir: string,
  config: InstanceConfig,
  log: Logger,
  hooks: StartHooks & { eventBufferBytes?: number } = {},
): Promise<Daemon> {
  const token = (await readFile(join(dir, API_TOKEN_FILE), 'utf8')).trim()
  await refuseSecondDaemon(dir)
  await refuseTakenPorts(config)
  const instance = await startInstance(dir, config, log, hooks)
  let apiPort = config.api.port
  const events = new EventHub(instance, { logger: log.child('events') })
  const api = createApi(instance, {
    token,
    port: () => apiPort,
    events,
    logger: log.child('api'),
    ...(hooks.eventBufferBytes === undefined ? {} : { eventBufferBytes: hooks.eventBufferBytes }),
  })
  try {
    await api.listen({ host: '127.0.0.1', port: config.api.port })
  } catch (error) {
    events.close()
    await instance.stop()
    throw error
  }
  apiPort = (api.server.address() as AddressInfo).port
  // Where the CLI finds the running daemon's API (the configured port may be 0).
  await writeFile(join(dir, RUNTIME_FILE), `${JSON.stringify({ pid: process.pid, apiPort })}\n`, {
    mode: 0o600,
  })
  log.info({ url: `http://127.0.0.1:${apiPort}` }, 'API listening')
  return {
    instance,
    api,
    events,
    apiPort,
    async stop() {
      await rm(join(dir, RUNTIME_FILE), { force: true })
      await api.close()
      events.close()
      await instance.stop()
    },
  }
}
