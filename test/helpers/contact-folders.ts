// Folders of contact files for the folder connector's tests: a temporary folder, empty
// or holding copies of the exported fixtures, removed when the test finishes; and a
// LocalSync on such a folder, as the daemon makes one.
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onTestFinished } from 'vitest'
import { FolderConnector, LocalSync, VCARD_FORMAT, folderMapping } from '../../src/local/index.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { ObjectStore } from '../../src/store/index.ts'

/** A new folder (removed when the test finishes), holding copies of `fixtures` if named. */
export function contactFolder(fixtures?: 'vcards' | 'google-csv'): string {
  const folder = mkdtempSync(join(tmpdir(), `objectsync-${fixtures ?? 'contacts'}-`))
  onTestFinished(() => rmSync(folder, { recursive: true, force: true }))
  if (fixtures !== undefined) {
    cpSync(join(import.meta.dirname, '../fixtures', fixtures), folder, { recursive: true })
  }
  return folder
}

/** A started LocalSync on a vCard folder (no settle time), polled only when told. */
export async function startFolderSync(
  folder: string,
  store: ObjectStore,
  instanceId: InstanceId,
): Promise<LocalSync> {
  const local = new LocalSync({
    store,
    connector: new FolderConnector(folder, VCARD_FORMAT, 0),
    mapping: folderMapping(),
    instanceId,
    pollMs: 60_000,
  })
  await local.start()
  return local
}
