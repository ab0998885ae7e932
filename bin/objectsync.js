#!/usr/bin/env node
// The package's executable. It runs the compiled JavaScript in dist/ (`npm run build`,
// which `npm ci` and `npm install` run through `prepare`) when that is newer than every
// source file: a command then answers without compiling anything. Otherwise — no build,
// or sources edited since — it runs the TypeScript sources through tsx, as in
// development (OBJECTSYNC_FROM_SOURCE=1 asks for that always).
//
// `start` on Linux runs the daemon with MALLOC_ARENA_MAX=2 (set before the process
// starts, so in a child process when it is not set yet). glibc gives each thread that
// allocates its own malloc arena; LevelDB's, SQLite's and libuv's threads each grew one,
// and a daemon's resident memory kept climbing ≈ 0.4 MB a minute under steady edits (a
// 60-minute soak: +8 %); with two arenas the same 30-minute soak grew 1.5–1.9 %.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const compiled = join(root, 'dist', 'daemon', 'main.js')

/** The newest modification time of the TypeScript files under `dir`. */
function newestSource(dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

function compiledIsCurrent() {
  if (process.env.OBJECTSYNC_FROM_SOURCE === '1' || !existsSync(compiled)) return false
  const built = statSync(compiled).mtimeMs
  return ['src', 'daemon'].every((dir) => newestSource(join(root, dir)) <= built)
}

/**
 * Runs this command again in a child with MALLOC_ARENA_MAX=2, passing signals on, and
 * exits as it does. The child watches for this process to go (see daemon/main.ts).
 */
function runWithTwoArenas() {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, MALLOC_ARENA_MAX: '2', OBJECTSYNC_PARENT_PID: String(process.pid) },
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal))
  }
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)
  })
}

if (
  process.argv[2] === 'start' &&
  process.platform === 'linux' &&
  process.env.MALLOC_ARENA_MAX === undefined
) {
  runWithTwoArenas()
} else if (compiledIsCurrent()) {
  await import(compiled)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../daemon/main.ts')
}
