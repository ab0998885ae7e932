// What every request passes before its route runs: Host and Origin must name this API on
// loopback (a page elsewhere that resolves its own name to 127.0.0.1 — DNS rebinding —
// sends its own name as Host; a cross-site request sends its Origin), and the bearer
// token must match, unless the route is a public GET (it holds no data).
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import { ObjectSyncError } from '../../src/errors.ts'

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]']

export interface GuardOptions {
  token: string
  /** The port the API listens on: requests must name it in Host (and Origin, if any). */
  port: () => number
}

/** Equal-time comparison of the presented token with ours (hashes have equal lengths). */
function tokenMatches(presented: string, token: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(presented), digest(token))
}

/** Why `request` may not be answered, or undefined when it may. */
function refusal(request: FastifyRequest, options: GuardOptions): ObjectSyncError | undefined {
  const host = request.headers.host ?? ''
  const port = options.port()
  if (!LOOPBACK_NAMES.some((name) => host === `${name}:${port}`)) {
    return new ObjectSyncError('FORBIDDEN', `Host ${JSON.stringify(host)} is not this API`)
  }
  const origin = request.headers.origin
  if (origin !== undefined && !LOOPBACK_NAMES.some((name) => origin === `http://${name}:${port}`)) {
    return new ObjectSyncError('FORBIDDEN', `Origin ${JSON.stringify(origin)} may not use this API`)
  }
  if (request.method === 'GET' && request.routeOptions.config.api?.public === true) {
    return undefined
  }
  const header = request.headers.authorization ?? ''
  const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : ''
  if (presented === '' || !tokenMatches(presented, options.token)) {
    return new ObjectSyncError(
      'UNAUTHORIZED',
      'expected "Authorization: Bearer <the token in DIR/api-token>"',
    )
  }
  return undefined
}

/** The onRequest hook that refuses what `refusal` names, before any route runs. */
export function requestGuard(options: GuardOptions): onRequestHookHandler {
  return (request, _reply, done) => done(refusal(request, options))
}
