// File contents: POST /v1/blobs takes the raw body as a stream (written chunk by chunk,
// never held whole; at most files.maxBytes) and GET /v1/blobs/:sha256 streams it back.
import { Readable } from 'node:stream'
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import { ObjectSyncError } from '../../src/errors.ts'
import type { BlobStore } from '../../src/store/index.ts'
import { addRoute } from './route.ts'
import { parse, schemas } from './schemas.ts'

export interface BlobRoutesOptions {
  blobs: BlobStore
}

async function putBlob(blobs: BlobStore, request: FastifyRequest, reply: FastifyReply) {
  const { sha256 } = parse(schemas.blobQuery, request.query, 'query')
  const body = request.body
  if (!(body instanceof Readable)) {
    throw new ObjectSyncError(
      'INVALID_REQUEST',
      'body: expected the file content as Content-Type application/octet-stream',
      { details: { path: 'body' } },
    )
  }
  try {
    const length = Number(request.headers['content-length'])
    if (Number.isSafeInteger(length) && length > blobs.maxBytes) {
      throw new ObjectSyncError(
        'BLOB_TOO_LARGE',
        `the file is larger than the limit of ${blobs.maxBytes} bytes (files.maxBytes)`,
        { details: { maxBytes: blobs.maxBytes, size: length } },
      )
    }
    const manifest = await blobs.putStream(body, sha256)
    return await reply.status(201).send({ sha256: manifest.sha256, size: manifest.size })
  } catch (error) {
    // Read the rest and drop it, so the client gets the answer rather than a reset.
    body.resume()
    throw error
  }
}

async function getBlob(blobs: BlobStore, request: FastifyRequest, reply: FastifyReply) {
  const { sha256 } = request.params as { sha256: string }
  const manifest = await blobs.manifest(sha256)
  if (manifest === undefined) {
    throw new ObjectSyncError('BLOB_NOT_FOUND', `no blob ${sha256} is held here`, {
      details: { sha256 },
    })
  }
  return reply
    .type('application/octet-stream')
    .header('content-length', manifest.size)
    .send(Readable.from(blobs.stream(sha256)))
}

export const blobRoutes: FastifyPluginCallback<BlobRoutesOptions> = (app, { blobs }, done) => {
  addRoute(app, {
    method: 'POST',
    url: '/v1/blobs',
    summary:
      "Stores a file's content (the raw body, at most files.maxBytes): { sha256, size }; `sha256` checks it",
    query: schemas.blobQuery,
    rawBody: 'application/octet-stream',
    ok: { status: 201 },
    handler: (request, reply) => putBlob(blobs, request, reply),
  })
  addRoute(app, {
    method: 'GET',
    url: '/v1/blobs/:sha256',
    summary: "A file's content, as stored under its sha256",
    ok: { status: 200, type: 'application/octet-stream' },
    handler: (request, reply) => getBlob(blobs, request, reply),
  })
  done()
}
