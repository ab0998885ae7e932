// Reading a benchmark child process's stdout line by line: `next(prefix)` resolves with
// the first line (seen or to come) that starts with `prefix`, and fails with the child's
// stderr if it exits first; `latest(prefixes)` is the last line seen so far that starts
// with one of `prefixes`, for a child that reports a changing state.
import type { ChildProcess } from 'node:child_process'

export interface ChildLines {
  next: (prefix: string) => Promise<string>
  latest: (prefixes: readonly string[]) => string | undefined
}

export function childLines(child: ChildProcess): ChildLines {
  let buffer = ''
  const seen: string[] = []
  const waiting: { prefix: string; resolve: (line: string) => void }[] = []
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    const parts = buffer.split('\n')
    buffer = parts.pop()!
    seen.push(...parts)
    for (const wait of [...waiting]) {
      const line = seen.find((candidate) => candidate.startsWith(wait.prefix))
      if (line !== undefined) {
        waiting.splice(waiting.indexOf(wait), 1)
        wait.resolve(line)
      }
    }
  })
  const next = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const line = seen.find((candidate) => candidate.startsWith(prefix))
      if (line !== undefined) return resolve(line)
      const failed = () =>
        reject(new Error(`${prefix}: peer exited (${child.exitCode}): ${stderr.slice(-2000)}`))
      if (child.exitCode !== null || child.signalCode !== null) return failed()
      waiting.push({ prefix, resolve })
      child.once('exit', failed)
    })
  const latest = (prefixes: readonly string[]) =>
    seen.findLast((line) => prefixes.some((prefix) => line.startsWith(prefix)))
  return { next, latest }
}
