// The one error type objectsync throws on purpose. `code` is stable — documented in
// docs/api.md (Error codes) and never renamed — while messages may change. Programmer
// mistakes (a wrong argument type inside the code base) stay plain TypeErrors.

/** Every stable error code, with the HTTP status the API answers it with. */
export const ERROR_CODES = {
  INVALID_OBJECT: { status: 400, summary: 'an object or patch failed validation' },
  INVALID_CURSOR: { status: 400, summary: 'a list cursor or feed position is malformed' },
  OBJECT_NOT_FOUND: { status: 404, summary: 'no object has this id' },
  OBJECT_DELETED: { status: 409, summary: 'the object is deleted (tombstoned)' },
  CONFLICT_NOT_FOUND: { status: 404, summary: 'no such conflict, or no such value in it' },
  INVALID_CHANGES: { status: 422, summary: 'remote changes could not be applied' },
  DOCUMENT_CORRUPT: { status: 500, summary: 'a stored document could not be loaded' },
  INVALID_MERGE: { status: 409, summary: 'the objects can not be merged, or unmerged' },
  SYNC_STATE_CORRUPT: { status: 500, summary: 'a stored sync-state value could not be read' },
  STORE_IN_USE: { status: 503, summary: 'the store is opened by another daemon' },
  PORT_IN_USE: {
    status: 500,
    summary: 'a port the daemon is configured to listen on is taken (start refused)',
  },
  STORE_CLOSED: { status: 503, summary: 'the store is not open' },
  STORE_IO: { status: 500, summary: 'the storage layer failed to read or write' },
  INVALID_INVITE: { status: 400, summary: 'a pairing token is malformed' },
  INVITE_REFUSED: { status: 403, summary: 'the inviter refused the pairing' },
  PEER_UNREACHABLE: { status: 502, summary: 'no connection to the peer could be made' },
  PEER_REFUSED: { status: 403, summary: 'the peer refused the connection: not paired' },
  PEER_INCOMPATIBLE: {
    status: 502,
    summary: 'the peer speaks no sync protocol version this objectsync speaks: one must upgrade',
  },
  PEER_NOT_FOUND: { status: 404, summary: 'no paired peer has this id' },
  FRAME_REFUSED: { status: 400, summary: 'a frame from a peer was refused and its stream closed' },
  INVALID_PEERS_FILE: { status: 500, summary: 'peers.json or a key file is malformed' },
  INVALID_CONFIG: { status: 500, summary: 'config.json (e.g. its mapping) is malformed' },
  LOCAL_SYSTEM_IO: { status: 502, summary: 'the local system could not be read or written' },
  INSTANCE_EXISTS: { status: 409, summary: 'the data folder already holds an instance' },
  UNAUTHORIZED: { status: 401, summary: 'the API request has no valid bearer token' },
  FORBIDDEN: { status: 403, summary: 'the API request came with a foreign Host or Origin' },
  INVALID_REQUEST: { status: 400, summary: 'an API request body or query is malformed' },
  NOT_FOUND: { status: 404, summary: 'no such API route' },
  BODY_TOO_LARGE: { status: 413, summary: 'an API request body is over the limit (1 MiB)' },
  BLOB_TOO_LARGE: { status: 413, summary: 'a file is larger than files.maxBytes' },
  BLOB_NOT_FOUND: { status: 404, summary: 'no blob with this sha256 is held here' },
  BLOB_MISMATCH: {
    status: 422,
    summary: 'file content does not hash to its sha256, or a peer sent a bad manifest',
  },
  MATCH_NOT_FOUND: { status: 404, summary: 'no object with this id waits in the review queue' },
  INTERNAL: { status: 500, summary: 'an unexpected failure; the daemon log has the details' },
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export interface ObjectSyncErrorOptions {
  cause?: unknown
  /** Machine-readable context, e.g. `{ path: 'person.birthday' }`. */
  details?: Record<string, unknown>
}

export class ObjectSyncError extends Error {
  override readonly name = 'ObjectSyncError'
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, options: ObjectSyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details
  }

  get status(): number {
    return ERROR_CODES[this.code].status
  }
}

export function isObjectSyncError(error: unknown, code?: ErrorCode): error is ObjectSyncError {
  return error instanceof ObjectSyncError && (code === undefined || error.code === code)
}
