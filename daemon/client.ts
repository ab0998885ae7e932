// The CLI's side of the HTTP API: commands other than init and start ask the running
// daemon (the store is locked by it). It finds the API through DIR/daemon.json and
// authenticates with DIR/api-token.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { API_TOKEN_FILE, RUNTIME_FILE } from './data-files.ts'

/** A failure the CLI reports as it is (exit code 1). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message)
  }
}

/** Where the running daemon of `dir` listens, and the token it takes. */
export async function findDaemon(dir: string): Promise<{ apiPort: number; token: string }> {
  try {
    const { apiPort } = JSON.parse(await readFile(join(dir, RUNTIME_FILE), 'utf8')) as {
      apiPort: number
    }
    const token = (await readFile(join(dir, API_TOKEN_FILE), 'utf8')).trim()
    return { apiPort, token }
  } catch {
    throw new CliError(
      `no daemon is running for ${dir} (no ${RUNTIME_FILE}); start it with: objectsync start --dir ${dir}`,
    )
  }
}

/**
 * The status page's address; `withToken` puts the token after #, which the browser never
 * sends to a server, but which is a secret wherever the link is printed or kept.
 */
export function statusPageUrl(
  daemon: { apiPort: number; token: string },
  withToken: boolean,
): string {
  const page = `http://127.0.0.1:${daemon.apiPort}/`
  return withToken ? `${page}#token=${encodeURIComponent(daemon.token)}` : page
}

export async function callDaemon(
  dir: string,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const { apiPort, token } = await findDaemon(dir)
  let response: Response
  try {
    response = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  } catch {
    throw new CliError(
      `the daemon for ${dir} does not answer on 127.0.0.1:${apiPort}; is it running? (objectsync start --dir ${dir})`,
    )
  }
  const text = await response.text()
  const json = text === '' ? undefined : (JSON.parse(text) as unknown)
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error
    throw new CliError(
      `${error?.code ?? response.status}: ${error?.message ?? response.statusText}`,
      error?.code,
    )
  }
  return json
}
