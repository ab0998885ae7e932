// What the CLI's commands share: the --dir and --json options, port and multiaddr parsing,
// and printing
// a result as text or as one JSON line.
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidArgumentError, Option } from 'commander'
import { INVITE_LIFETIME_EXPECTED, isInviteLifetime } from '../../src/model/duration.ts'

export const dirOption = () =>
  new Option('--dir <dir>', 'the data folder').env('OBJECTSYNC_DIR').default('./data')

export const jsonOption = () => new Option('--json', 'machine-readable output')

export function parsePort(value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('expected a port from 0 (any free one) to 65535')
  }
  return port
}

/** An invite's lifetime as given (`30m`, `2h`, `7d`), checked here: a bad one is bad usage. */
export function parseInviteLifetime(value: string): string {
  if (!isInviteLifetime(value)) throw new InvalidArgumentError(INVITE_LIFETIME_EXPECTED)
  return value
}

/** A repeatable multiaddr option's values, each checked as it is given. */
export function collectMultiaddr(value: string, previous: string[] = []): string[] {
  try {
    multiaddr(value)
  } catch {
    throw new InvalidArgumentError('expected a multiaddr, e.g. /ip4/127.0.0.1/tcp/7400')
  }
  return [...previous, value]
}

/**
 * How the user runs objectsync, for advice printed after a command: `objectsync` where it
 * is on the PATH (installed), `npx objectsync` from a checkout or when run through npx.
 */
export function commandName(): string {
  if (process.env.npm_command === 'exec') return 'npx objectsync'
  const onPath = (process.env.PATH ?? '')
    .split(delimiter)
    .some((dir) => dir !== '' && existsSync(join(dir, 'objectsync')))
  return onPath ? 'objectsync' : 'npx objectsync'
}

export function print(json: boolean, value: object, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`)
}
