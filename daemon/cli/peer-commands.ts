// The commands that list, pair, unpair, pause and resume peers through the running
// daemon, and keygen for pairing by hand in peers.json.
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { sameName } from '../../src/model/names.ts'
import { CliError, callDaemon } from '../client.ts'
import { describePeer, type PeerJson } from '../describe.ts'
import { dirOption, jsonOption, parseInviteLifetime, print } from './options.ts'

/**
 * The id of the peer `given` names: an id as it is, else the one peer whose name it is
 * (case and spacing aside); a name no peer or several peers have is refused, saying which.
 */
async function peerIdFor(dir: string, given: string): Promise<string> {
  const { peers } = (await callDaemon(dir, 'GET', '/v1/peers')) as { peers: PeerJson[] }
  if (peers.some((peer) => peer.id === given)) return given
  const named = peers.filter((peer) => sameName(peer.name, given))
  if (named.length === 1) return named[0]!.id
  if (named.length > 1) {
    throw new CliError(
      `${named.length} peers are named "${given}": give the id of one (${named.map((peer) => peer.id).join(', ')})`,
    )
  }
  // Not a name here: the daemon says whether it is an id (PEER_NOT_FOUND otherwise).
  return given
}

export function addPeerCommands(root: Command): void {
  root
    .command('peers')
    .description('the paired peers, with connection and sync state')
    .addOption(dirOption())
    .addOption(jsonOption())
    .action(async (options: { dir: string; json?: boolean }) => {
      const { peers } = (await callDaemon(options.dir, 'GET', '/v1/peers')) as {
        peers: PeerJson[]
      }
      const text =
        peers.length === 0
          ? 'no peers yet (objectsync invite / pair)'
          : peers.map(describePeer).join('\n')
      print(options.json === true, { peers }, text)
    })

  addPairingCommands(root)
  addPauseCommand(
    root,
    'pause',
    'stops syncing with a peer until it is resumed (kept across restarts)',
  )
  addPauseCommand(root, 'resume', 'syncs with a paused peer again')
}

/** `pause PEER` / `resume PEER`: PATCH /v1/peers/:id with `paused`. */
function addPauseCommand(root: Command, name: 'pause' | 'resume', description: string): void {
  root
    .command(name)
    .description(description)
    .argument('<peer>', 'the peer id, or its name if no other peer has it (objectsync peers)')
    .addOption(dirOption())
    .addOption(jsonOption())
    .action(async (given: string, options: { dir: string; json?: boolean }) => {
      const id = await peerIdFor(options.dir, given)
      const peer = (await callDaemon(options.dir, 'PATCH', `/v1/peers/${encodeURIComponent(id)}`, {
        paused: name === 'pause',
      })) as PeerJson
      print(
        options.json === true,
        peer,
        `${name === 'pause' ? 'paused' : 'resumed'} ${peer.name} (${peer.id})`,
      )
    })
}

function addPairingCommands(root: Command): void {
  root
    .command('invite')
    .description('prints a one-time pairing token; treat it as a secret')
    .addOption(dirOption())
    .option(
      '--expires <duration>',
      'how long the token is valid, e.g. 30m, 2h or 7d',
      parseInviteLifetime,
      '1h',
    )
    .addOption(jsonOption())
    .action(async (options: { dir: string; expires: string; json?: boolean }) => {
      const invite = (await callDaemon(options.dir, 'POST', '/v1/invites', {
        expires: options.expires,
      })) as { token: string; expiresAt: string }
      print(
        options.json === true,
        invite,
        `${invite.token}\n\nValid once, until ${invite.expiresAt}. Pass it over a channel you trust; the other administrator runs: objectsync pair <token>`,
      )
    })

  root
    .command('pair')
    .description(
      'pairs with the instance that made the invite token (read from standard input when not given)',
    )
    .argument(
      '[token]',
      'the token from objectsync invite on the other instance; "-" or none reads it from standard input (safer: other local users can see command lines)',
    )
    .addOption(dirOption())
    .option('--token-file <file>', 'read the token from this file')
    .option('--name <name>', 'what to call the peer here (default: the name it gives)')
    .addOption(jsonOption())
    .action(
      async (
        given: string | undefined,
        options: { dir: string; tokenFile?: string; name?: string; json?: boolean },
        command: Command,
      ) => {
        const token = await pairingToken(given, options.tokenFile, command)
        const peer = (await callDaemon(options.dir, 'POST', '/v1/pair', {
          token,
          ...(options.name === undefined ? {} : { name: options.name }),
        })) as {
          id: string
          name: string
        }
        print(options.json === true, peer, `paired with ${peer.name} (${peer.id})`)
      },
    )

  root
    .command('unpair')
    .description('removes a peer and its key, and closes its connections')
    .argument('<peer>', 'the peer id, or its name if no other peer has it (objectsync peers)')
    .addOption(dirOption())
    .addOption(jsonOption())
    .action(async (given: string, options: { dir: string; json?: boolean }) => {
      const peer = await peerIdFor(options.dir, given)
      await callDaemon(options.dir, 'DELETE', `/v1/peers/${encodeURIComponent(peer)}`)
      print(options.json === true, { unpaired: peer }, `unpaired ${peer}`)
    })
}

/**
 * The invite token: from the argument, a file, or standard input (its first line). A
 * token on the command line shows in the process list and shell history, where another
 * local user could redeem it first.
 */
async function pairingToken(
  given: string | undefined,
  file: string | undefined,
  command: Command,
): Promise<string> {
  if (given !== undefined && given !== '-' && file !== undefined) {
    command.error('give the token once: as the argument or with --token-file', { exitCode: 2 })
  }
  let text: string
  if (file !== undefined) {
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      command.error(`could not read the token file ${file}: ${(error as Error).message}`, {
        exitCode: 2,
      })
    }
  } else if (given !== undefined && given !== '-') {
    text = given
  } else {
    if (process.stdin.isTTY) process.stderr.write('Paste the invite token, then press Enter:\n')
    text = await firstLine(process.stdin)
  }
  const token = text.trim()
  if (token === '') command.error('no invite token given', { exitCode: 2 })
  return token
}

/** The first line of a stream (all of it when it has no newline). */
async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of stream) {
    text += String(chunk)
    const end = text.indexOf('\n')
    if (end >= 0) return text.slice(0, end)
    if (text.length > 64 * 1024) break
  }
  return text
}

export function addKeygenCommand(root: Command): void {
  root
    .command('keygen')
    .description(
      'writes a new pair key file for manual pairing (pass it securely to the other administrator)',
    )
    .argument('[file]', 'where to write it, relative to the data folder', 'keys/pair.key')
    .addOption(dirOption())
    .option('--json', 'machine-readable output')
    .action(async (file: string, options: { dir: string; json?: boolean }) => {
      const { keygen } = await import('../keygen.ts')
      const path = await keygen(options.dir, file)
      print(
        options.json === true,
        { file: path },
        `wrote ${path} (mode 0600)\nPass it securely to the other administrator; both list it as "key" of the other instance in peers.json.`,
      )
    })
}
