// The instance's identity: an Ed25519 key kept in DIR/keys (mode 0600), so that its id —
// the libp2p PeerId — stays the same across restarts.
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ObjectSyncError } from '../errors.ts'
import type { InstanceId } from '../model/index.ts'

export const IDENTITY_FILE = 'identity.key'

export interface Identity {
  id: InstanceId
  privateKey: PrivateKey
}

export function identityOf(privateKey: PrivateKey): Identity {
  return { id: peerIdFromPrivateKey(privateKey).toString() as InstanceId, privateKey }
}

export async function createIdentity(): Promise<Identity> {
  return identityOf(await generateKeyPair('Ed25519'))
}

/** Reads the identity in `keysDir`, creating it (mode 0600) when there is none. */
export async function loadOrCreateIdentity(keysDir: string): Promise<Identity> {
  const file = join(keysDir, IDENTITY_FILE)
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    const identity = await createIdentity()
    await mkdir(keysDir, { recursive: true, mode: 0o700 })
    await writeFile(file, privateKeyToProtobuf(identity.privateKey), { mode: 0o600, flag: 'wx' })
    return identity
  }
  try {
    return identityOf(privateKeyFromProtobuf(bytes))
  } catch (error) {
    throw new ObjectSyncError(
      'INVALID_PEERS_FILE',
      `${file}: expected a libp2p private key (protobuf)`,
      {
        cause: error,
      },
    )
  }
}
