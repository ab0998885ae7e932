// What `start` shows while a first sync or a large import runs: progress bars
// (cli-progress) when attached to a terminal, plain lines every few seconds otherwise.
import { MultiBar, Presets, type SingleBar } from 'cli-progress'
import type { InstanceId } from '../src/model/index.ts'
import type { SessionProgress } from '../src/sync/index.ts'
import type { Instance } from './instance.ts'

/** Catch-ups smaller than this are over before a bar would help. */
export const SHOWN_FROM_FACETS = 500
/** Rows taken in from a table before its count is shown. */
export const SHOWN_FROM_ROWS = 1000
/** Plain lines (no terminal) at most this often per task. */
export const PLAIN_LINE_INTERVAL_MS = 5000

export interface ProgressOutput extends NodeJS.WritableStream {
  isTTY?: boolean
}

export interface ProgressReporter {
  /** A sync session's catch-up with `peer` (its name here). */
  sync(peer: string, progress: SessionProgress): void
  /** Rows of `table` taken in from the local system so far; `done` at the table's end. */
  ingest(table: string, rows: number, done: boolean): void
  /** A log line for stdout: above the bars while they are drawn on the same terminal. */
  log(line: string): void
  stop(): void
}

export function createProgressReporter(
  output: ProgressOutput,
  clock: () => number = Date.now,
): ProgressReporter {
  return output.isTTY === true ? new BarReporter(output) : new LineReporter(output, clock)
}

/** Shows the daemon's sync sessions catching up; returns stop. */
export function reportSyncProgress(instance: Instance, reporter: ProgressReporter): () => void {
  const { engine, registry } = instance
  const onProgress = (peer: InstanceId, progress: SessionProgress) =>
    reporter.sync(registry.get(peer)?.name ?? peer, progress)
  return engine.on('progress', onProgress)
}

class BarReporter implements ProgressReporter {
  private readonly bars: MultiBar
  private readonly open = new Map<string, SingleBar>()

  constructor(output: ProgressOutput) {
    this.bars = new MultiBar(
      {
        stream: output,
        hideCursor: true,
        clearOnComplete: false,
        format: ' {label} [{bar}] {value}/{total} · {eta_formatted} left',
      },
      Presets.shades_classic,
    )
  }

  sync(peer: string, progress: SessionProgress): void {
    const key = `sync:${peer}`
    const bar = this.open.get(key)
    if (bar === undefined) {
      if (progress.caughtUp || progress.total < SHOWN_FROM_FACETS) return
      this.open.set(key, this.bars.create(progress.total, progress.done, { label: `sync ${peer}` }))
      return
    }
    bar.setTotal(Math.max(progress.total, progress.done))
    bar.update(progress.caughtUp ? Math.max(progress.total, progress.done) : progress.done)
    if (progress.caughtUp) this.finish(key, bar)
  }

  ingest(table: string, rows: number, done: boolean): void {
    const key = `ingest:${table}`
    let bar = this.open.get(key)
    if (bar === undefined) {
      if (done || rows < SHOWN_FROM_ROWS) return
      // How many rows a table holds is not known ahead: a count, not a bar.
      bar = this.bars.create(
        0,
        rows,
        { label: `import ${table}` },
        { format: ' {label}: {value} rows' },
      )
      this.open.set(key, bar)
    }
    bar.update(rows)
    if (done) this.finish(key, bar)
  }

  log(line: string): void {
    if (this.open.size > 0) this.bars.log(line.endsWith('\n') ? line : `${line}\n`)
    else process.stdout.write(line)
  }

  stop(): void {
    this.bars.stop()
    this.open.clear()
  }

  private finish(key: string, bar: SingleBar): void {
    bar.stop()
    this.open.delete(key)
  }
}

class LineReporter implements ProgressReporter {
  private readonly lastLine = new Map<string, number>()

  constructor(
    private readonly output: ProgressOutput,
    private readonly clock: () => number,
  ) {}

  sync(peer: string, progress: SessionProgress): void {
    const key = `sync:${peer}`
    if (progress.caughtUp) {
      if (this.lastLine.delete(key))
        this.line(`sync with ${peer}: caught up (${progress.done} received)`)
      return
    }
    if (progress.total < SHOWN_FROM_FACETS || !this.due(key)) return
    this.line(`sync with ${peer}: ${progress.done}/${progress.total}`)
  }

  ingest(table: string, rows: number, done: boolean): void {
    const key = `ingest:${table}`
    if (done) {
      if (this.lastLine.delete(key)) this.line(`import ${table}: ${rows} rows, done`)
      return
    }
    if (rows < SHOWN_FROM_ROWS || !this.due(key)) return
    this.line(`import ${table}: ${rows} rows`)
  }

  log(line: string): void {
    process.stdout.write(line)
  }

  stop(): void {
    this.lastLine.clear()
  }

  /** Whether a line for `key` is due; the first one is. */
  private due(key: string): boolean {
    const now = this.clock()
    const last = this.lastLine.get(key)
    if (last !== undefined && now - last < PLAIN_LINE_INTERVAL_MS) return false
    this.lastLine.set(key, now)
    return true
  }

  private line(text: string): void {
    this.output.write(`${text}\n`)
  }
}
