// GET /v1/events: the daemon's events (daemon/events.ts) as server-sent events, each as
// `event: <name>` and `data: <json>`, until the client goes. Open streams are cut when the
// API closes, since they would hold the server open.
import type { FastifyPluginCallback, FastifyReply } from 'fastify'
import type { Logger } from '../../src/log.ts'
import { peerViews, type DaemonEvent, type EventHub } from '../events.ts'
import type { Instance } from '../instance.ts'
import { addRoute } from './route.ts'

/** An event stream whose client reads slower than this many bytes behind is closed. */
export const EVENT_STREAM_BUFFER_BYTES = 1024 * 1024
/** A comment line this often keeps idle event streams open through proxies and timeouts. */
export const EVENT_HEARTBEAT_MS = 15_000

export interface EventRoutesOptions {
  instance: Instance
  events: EventHub
  /** Bytes a stream may fall behind before it is cut (EVENT_STREAM_BUFFER_BYTES). */
  eventBufferBytes?: number
  logger?: Logger
}

function frame(event: DaemonEvent): string {
  return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`
}

/** Streams every event to `reply` until the client goes; `streams` holds the way to end it. */
function streamEvents(
  reply: FastifyReply,
  options: EventRoutesOptions,
  streams: Set<() => void>,
): void {
  reply.hijack()
  const out = reply.raw
  out.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-content-type-options': 'nosniff',
  })
  // The peers' state first, so a client starts from what is, then hears what changes.
  out.write('retry: 2000\n\n')
  for (const peer of peerViews(options.instance)) out.write(frame({ event: 'peer', data: peer }))
  // Destroyed, not ended: ending waits for a client that may never read again, and an
  // open connection keeps the daemon from stopping.
  const end = () => {
    unsubscribe()
    clearInterval(heartbeat)
    streams.delete(end)
    out.destroy()
  }
  const unsubscribe = options.events.on('event', (event) => {
    // A client that stopped reading must not make the daemon buffer without bound.
    if (out.writableLength > (options.eventBufferBytes ?? EVENT_STREAM_BUFFER_BYTES)) {
      options.logger?.warn('event stream closed: the client reads too slowly')
      end()
      return
    }
    out.write(frame(event))
  })
  const heartbeat = setInterval(() => out.write(': still here\n\n'), EVENT_HEARTBEAT_MS)
  streams.add(end)
  out.on('close', end)
}

export const eventRoutes: FastifyPluginCallback<EventRoutesOptions> = (app, options, done) => {
  const streams = new Set<() => void>()
  app.addHook('preClose', (closing) => {
    for (const end of streams) end()
    closing()
  })
  addRoute(app, {
    method: 'GET',
    url: '/v1/events',
    summary: 'Server-sent events: change, peer, conflict, match, merge and sync',
    ok: { status: 200, type: 'text/event-stream' },
    handler: (_request, reply) => streamEvents(reply, options, streams),
  })
  done()
}
