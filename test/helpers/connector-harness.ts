// The connector conformance suite's harness (test/local/connector.test.ts): a connector,
// and "another program" writing to its local system; the folder connectors' harnesses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  FolderConnector,
  GOOGLE_CSV_FORMAT,
  VCARD_FORMAT,
  type Connector,
  type LocalRow,
} from '../../src/local/index.ts'

export interface Harness {
  connector: Connector
  /** Another program writes the row (or deletes it with undefined). */
  edit: (key: string, row: LocalRow | undefined) => void | Promise<void>
  /** Another program puts the record in the group, or takes it out. */
  editGroup: (key: string, group: string, member: boolean) => void | Promise<void>
  /**
   * Another program makes a table keyed by `id`: text, or (`given`) an integer the local
   * system gives (the memory connector plays one).
   */
  createTable: (table: string, columns: string, key: 'text' | 'given') => void | Promise<void>
  /** Another program inserts or updates a row of any table keyed by `id`. */
  upsert: (table: string, key: string, row: LocalRow) => void | Promise<void>
  /** Another program inserts a row with the key the local system gives; returns the key. */
  insertGiven: (table: string, row: LocalRow) => string | Promise<string>
  /** Another program deletes a row of any table keyed by `id`. */
  deleteRow: (table: string, key: string) => void | Promise<void>
  cleanup: () => void | Promise<void>
}

const notForAFolder = () => {
  throw new Error('a folder has no tables of its own')
}

/** What a folder's harness can't do: its tests are skipped for folders. */
const NOT_FOR_A_FOLDER = {
  editGroup: notForAFolder,
  createTable: notForAFolder,
  upsert: notForAFolder,
  insertGiven: notForAFolder,
  deleteRow: notForAFolder,
}

/**
 * A folder of vCard files: "another program" writes a card per person (`<key>.vcf`).
 * A folder has no tables of its own and no groups without cards: the tests of group
 * membership without records, row filters and keys the local system gives are not its
 * (test/local/folder-connector.test.ts has its own).
 */
export function folderHarness(folders: string[]): Harness {
  const folder = mkdtempSync(join(tmpdir(), 'objectsync-folder-'))
  folders.push(folder)
  return {
    connector: new FolderConnector(folder, VCARD_FORMAT, 0),
    edit: (key, row) => {
      const file = join(folder, `${key}.vcf`)
      if (row === undefined) rmSync(file, { force: true })
      else
        writeFileSync(
          file,
          [
            'BEGIN:VCARD',
            'VERSION:3.0',
            `UID:${key}`,
            `N:${String(row.last_name)};${String(row.first_name)};;;`,
            `FN:${String(row.first_name)} ${String(row.last_name)}`,
            ...(row.email ? [`EMAIL;TYPE=INTERNET:${String(row.email)}`] : []),
            'END:VCARD',
            '',
          ].join('\r\n'),
        )
    },
    ...NOT_FOR_A_FOLDER,
    cleanup: () => {},
  }
}

/** A folder of Google Contacts CSV exports: "another program" rewrites `others.csv`. */
export function googleCsvHarness(folders: string[]): Harness {
  const folder = mkdtempSync(join(tmpdir(), 'objectsync-google-'))
  folders.push(folder)
  const lines = new Map<string, LocalRow>()
  return {
    connector: new FolderConnector(folder, GOOGLE_CSV_FORMAT, 0),
    edit: (key, row) => {
      if (row === undefined) lines.delete(key)
      else lines.set(key, row)
      const text = [
        'objectsync id,First Name,Last Name,E-mail 1 - Value',
        ...[...lines].map(([id, each]) =>
          [id, each.first_name, each.last_name, each.email ?? ''].map(String).join(','),
        ),
      ]
      writeFileSync(join(folder, 'others.csv'), text.join('\r\n') + '\r\n')
    },
    ...NOT_FOR_A_FOLDER,
    cleanup: () => {},
  }
}
