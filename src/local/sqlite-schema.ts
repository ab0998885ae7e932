// The SQLite local system's default schema, and how its file is opened (WAL, so other
// programs read while the daemon writes; a busy timeout, so a writer waits its turn).
import Database from 'better-sqlite3'
import { ObjectSyncError } from '../errors.ts'

/** The default schema of INTERFACE.md. */
export const DEFAULT_SCHEMA = `
CREATE TABLE IF NOT EXISTS organizations(id TEXT PRIMARY KEY, name TEXT NOT NULL, org_number TEXT,
  email TEXT, phone TEXT, website TEXT, address TEXT, category TEXT,
  favourite INTEGER NOT NULL DEFAULT 0, archived INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS persons(id TEXT PRIMARY KEY, first_name TEXT NOT NULL,
  last_name TEXT NOT NULL, email TEXT, phone TEXT, birthday TEXT, title TEXT,
  organization_id TEXT, role TEXT, favourite INTEGER NOT NULL DEFAULT 0,
  archived INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS transactions(id TEXT PRIMARY KEY, type TEXT NOT NULL, person_id TEXT,
  organization_id TEXT, date TEXT NOT NULL, amount TEXT, currency TEXT, description TEXT,
  donor_id TEXT);
CREATE TABLE IF NOT EXISTS files(id TEXT PRIMARY KEY, person_id TEXT, kind TEXT,
  name TEXT NOT NULL, media_type TEXT, content BLOB);
CREATE TABLE IF NOT EXISTS custom_fields(object_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT,
  PRIMARY KEY (object_id, name));
CREATE TABLE IF NOT EXISTS group_members(group_name TEXT NOT NULL, object_id TEXT NOT NULL,
  PRIMARY KEY (group_name, object_id));
`

const BUSY_TIMEOUT_MS = 5000

/** Creates (or completes) the default schema in the SQLite file at `path`. */
export function createLocalDatabase(path: string): void {
  const db = openDatabase(path)
  try {
    db.exec(DEFAULT_SCHEMA)
  } finally {
    db.close()
  }
}

export function openDatabase(path: string): Database.Database {
  try {
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    return db
  } catch (error) {
    throw new ObjectSyncError('LOCAL_SYSTEM_IO', `could not open the SQLite file ${path}`, {
      cause: error,
    })
  }
}
