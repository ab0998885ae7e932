// How the API answers a failure: one body, `{ "error": { "code", "message" } }`, with the
// status src/errors.ts gives the code. fastify's own failures (a body too large, not
// JSON) get codes of the same catalogue; anything unexpected is logged and answered
// INTERNAL without its details.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ERROR_CODES, isObjectSyncError } from '../../src/errors.ts'
import type { Logger } from '../../src/log.ts'

export const BODY_LIMIT_BYTES = 1024 * 1024

export function errorHandler(logger: Logger | undefined) {
  return (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
    if (isObjectSyncError(error)) {
      return reply
        .status(ERROR_CODES[error.code].status)
        .send({ error: { code: error.code, message: error.message } })
    }
    const fastifyError = error as { code?: string; statusCode?: number; message: string }
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({
        error: { code: 'BODY_TOO_LARGE', message: `the body is over ${BODY_LIMIT_BYTES} bytes` },
      })
    }
    if (fastifyError.statusCode !== undefined && fastifyError.statusCode < 500) {
      return reply.status(400).send({
        error: { code: 'INVALID_REQUEST', message: fastifyError.message },
      })
    }
    logger?.error({ err: error }, 'API request failed')
    return reply.status(500).send({
      error: { code: 'INTERNAL', message: 'the request failed; the daemon log has the details' },
    })
  }
}

/**
 * fastify's router refuses a URL before any hook or route runs — percent-encoding that is
 * not UTF-8 (`%c3%28`, `%zz`), or a path parameter longer than its maxParamLength (100) —
 * and would answer in its own shape (a 414 for the second): both are INVALID_REQUEST.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'path: a parameter is over 100 characters, longer than any id'
      : error.code === 'FST_ERR_BAD_URL'
        ? 'path: not valid percent-encoded UTF-8'
        : error.message
  void reply.status(400).send({ error: { code: 'INVALID_REQUEST', message } })
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  return reply.status(404).send({
    error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` },
  })
}
