// The files of a folder local system as the connector knows them (folder-connector.ts):
// read again when their size or time changed, and written so that nothing of the user's
// is lost.
//
// - A file that is not settled yet (changed in the last SETTLED_MS: an editor writing it
//   in steps, truncating first) or that has parts that don't read (a card cut short, a
//   line with no name) is "unsure": records it held before and holds no more are kept
//   (not taken for deletes), and it is not written until it reads whole. A file gone is
//   kept as it was for SETTLED_MS too (deleted and made again by an editor).
// - A write goes to a temporary file, synced, given the old file's mode, and renamed over
//   the file (its target, for a symbolic link); only if the file still is as it was read
//   (size and time): else another program wrote it meanwhile, and the write fails to be
//   tried again after the file is read. A failed write leaves the file as it was read.
import { constants } from 'node:fs'
import { link, open, readFile, readdir, realpath, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { ObjectSyncError } from '../../errors.ts'
import type { BadRow } from '../connector.ts'
import type { FolderFormat } from './format.ts'
import type { FileState } from './records.ts'

/** Coarser than any file system's modification times (FAT's are 2 s). */
export const SETTLED_MS = 3000
export const TEMPORARY = '.objectsync-writing'

export class FolderFiles {
  readonly files = new Map<string, FileState>()

  constructor(
    private readonly path: string,
    private readonly format: FolderFormat,
    private readonly description: string,
    /** How long a changed file counts as being written, a vanished one as coming back. */
    private readonly settleMs = SETTLED_MS,
  ) {}

  /** Reads what changed; returns whether anything did. */
  async scan(): Promise<boolean> {
    const now = Date.now()
    let names: string[]
    try {
      names = (await readdir(this.path)).filter((name) =>
        name.toLowerCase().endsWith(this.format.extension),
      )
    } catch (error) {
      throw this.failure('read the folder', error)
    }
    if (names.length === 0 && [...this.files.values()].some((state) => state.entries.length > 0)) {
      // Every contact gone at once is a folder unmounted or emptied by mistake far more
      // often than an address book deleted on purpose: not taken for deletes.
      throw new ObjectSyncError(
        'LOCAL_SYSTEM_IO',
        `${this.description} holds no contact files any more (unmounted?); its contacts are kept until it does`,
      )
    }
    let changed = false
    for (const name of names) {
      if (await this.scanFile(name, now)) changed = true
    }
    const listed = new Set(names)
    for (const [name, state] of this.files) {
      if (listed.has(name)) continue
      const first = state.vanished === undefined
      state.vanished ??= now
      if (now - state.vanished < this.settleMs) {
        if (first) changed = true
        continue
      }
      this.files.delete(name)
      changed = true
    }
    return changed
  }

  /** The file's state, made (empty, not written yet) for a new file. */
  stateOf(name: string): FileState {
    let state = this.files.get(name)
    if (state === undefined) {
      state = {
        size: -1,
        mtimeMs: -1,
        settled: true,
        entries: [],
        problems: [],
        meta: this.format.emptyMeta(),
      }
      this.files.set(name, state)
    }
    return state
  }

  /** The file read again as it is on disk (what was changed in memory goes). */
  async reload(name: string): Promise<void> {
    const old = this.files.get(name)
    this.files.delete(name)
    await this.scanFile(name, Date.now()).catch(() => false)
    // Gone this moment (deleted to be made again): waited for, as any file gone.
    if (!this.files.has(name) && old !== undefined && old.size >= 0) {
      this.files.set(name, { ...old, vanished: Date.now() })
    }
  }

  private async scanFile(name: string, now: number): Promise<boolean> {
    const file = join(this.path, name)
    const known = this.files.get(name)
    let info
    try {
      info = await stat(file)
    } catch (error) {
      // Gone since the folder was listed: the next scan sees it gone.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
      return this.unreadable(name, known, error)
    }
    const settled = now - info.mtimeMs >= this.settleMs || info.mtimeMs > now
    const ownWrite = known?.written?.size === info.size && known.written.mtimeMs === info.mtimeMs
    const same = known?.size === info.size && known.mtimeMs === info.mtimeMs
    if (same && known.vanished === undefined && (settled || ownWrite)) {
      if (known.settled) return false
      known.settled = true
      return true
    }
    let bytes: Buffer
    try {
      bytes = await readFile(file)
    } catch (error) {
      return this.unreadable(name, known, error)
    }
    const parsed = this.parse(name, bytes)
    this.files.set(name, { size: info.size, mtimeMs: info.mtimeMs, settled, ...parsed })
    return true
  }

  /** A file that can't be read (its rights): a bad row, its records kept as they were. */
  private unreadable(name: string, known: FileState | undefined, error: unknown): boolean {
    const problem = this.problem(name, 1, `could not read it: ${messageOf(error)}`)
    this.files.set(name, {
      size: -1,
      mtimeMs: -1,
      settled: true,
      entries: known?.entries ?? [],
      meta: known?.meta ?? this.format.emptyMeta(),
      problems: [problem],
    })
    return true
  }

  parse(file: string, bytes: Buffer): Pick<FileState, 'entries' | 'problems' | 'meta'> {
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
    } catch {
      const problems = [this.problem(file, 1, 'not UTF-8 text (save it as UTF-8)')]
      return { entries: [], problems, meta: this.format.emptyMeta() }
    }
    const stem = file.slice(0, file.length - this.format.extension.length)
    const read = this.format.read(stem, text)
    return {
      entries: read.entries,
      problems: read.problems.map((problem) => this.problem(file, problem.line, problem.problem)),
      meta: read.meta,
    }
  }

  problem(file: string, line: number, problem: string): BadRow {
    return {
      table: 'persons',
      key: `${file}:${line}`,
      column: undefined,
      problem: `${file}, line ${line}: ${problem}`,
    }
  }

  /** Whether the file may hold records it does not show now (see the top). */
  unsure(name: string): boolean {
    const state = this.files.get(name)
    return (
      state !== undefined &&
      (state.problems.length > 0 || !state.settled || state.vanished !== undefined)
    )
  }

  /**
   * Refuses a write to a file with parts that don't read (they would be lost), or one
   * gone for now, or (`entry` given) where the entry is no more (kept while the file
   * settles): naming why.
   */
  checkWritable(name: string, entry?: unknown): void {
    const state = this.files.get(name)
    if (state === undefined) return
    const why =
      state.problems.length > 0
        ? `it has parts that don't read (${state.problems[0]!.problem}): fix them, and it is written`
        : state.vanished !== undefined ||
            (entry !== undefined && !state.entries.some((each) => each === entry))
          ? 'another program is changing it: it is written once it has settled'
          : undefined
    if (why === undefined) return
    throw new ObjectSyncError('LOCAL_SYSTEM_IO', `${this.description}: not writing ${name}: ${why}`)
  }

  /**
   * Writes the file from its entries (see the top); an empty one is removed. On failure
   * the file is read again as it is, so nothing changed here and not written stays.
   */
  async write(name: string): Promise<void> {
    const state = this.files.get(name)
    if (state === undefined) return
    const file = join(this.path, name)
    let temporary = `${file}${TEMPORARY}`
    try {
      const target = await realpath(file).catch(() => file)
      const now = await stat(target).catch(() => undefined)
      if ((now?.size ?? -1) !== state.size || (now?.mtimeMs ?? -1) !== state.mtimeMs) {
        throw new Error('another program changed it meanwhile; it is read again first')
      }
      if (state.entries.length === 0) {
        await unlink(target)
        this.files.delete(name)
        return
      }
      const text = this.format.write(
        state.entries.map((entry) => entry.handle),
        state.meta,
      )
      temporary = `${target}${TEMPORARY}`
      const handle = await open(
        temporary,
        constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC,
        now?.mode ?? 0o644,
      )
      try {
        await handle.writeFile(text)
        if (now !== undefined) await handle.chmod(now.mode)
        await handle.sync()
      } finally {
        await handle.close()
      }
      // As late as can be: still as read (another program may have written meanwhile).
      const before = await stat(target).catch(() => undefined)
      if ((before?.size ?? -1) !== state.size || (before?.mtimeMs ?? -1) !== state.mtimeMs) {
        await unlink(temporary).catch(() => {})
        throw new Error('another program changed it meanwhile; it is read again first')
      }
      if (now === undefined) {
        // A new file: made only if no other program made one by that name meanwhile.
        await makeNew(temporary, target, text)
      } else await rename(temporary, target)
      const info = await stat(target)
      const written = { size: info.size, mtimeMs: info.mtimeMs }
      const parsed = this.parse(name, await readFile(target))
      this.files.set(name, { ...written, settled: true, written, ...parsed })
    } catch (error) {
      await unlink(temporary).catch(() => {})
      // As it is on disk now: what this write changed in memory goes with it.
      this.files.delete(name)
      await this.scanFile(name, Date.now()).catch(() => false)
      throw this.failure(`write ${name}`, error)
    }
  }

  private failure(what: string, error: unknown): ObjectSyncError {
    if (error instanceof ObjectSyncError) return error
    return new ObjectSyncError(
      'LOCAL_SYSTEM_IO',
      `${this.description}: could not ${what}: ${messageOf(error)}`,
      { cause: error },
    )
  }
}

/**
 * Puts the written temporary file in place as a new file, never over one another
 * program made meanwhile: by a hard link (failing where the name is taken), or where the
 * file system has none (FAT, exFAT, some network mounts) by writing it anew, made only if
 * absent.
 */
async function makeNew(temporary: string, target: string, text: string): Promise<void> {
  try {
    await link(temporary, target)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') {
      throw error
    }
    const handle = await open(target, 'wx')
    try {
      await handle.writeFile(text)
      await handle.sync()
    } finally {
      await handle.close()
    }
  }
  await unlink(temporary)
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
