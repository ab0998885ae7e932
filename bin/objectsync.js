#!/usr/bin/env node
// The package's executable. It runs the compiled JavaScript in dist/ (`npm run build`,
// which `npm ci` and `npm install` run through `prepare`) when that is newer than every
// source file: a command then answers without compiling anything. Otherwise — no build,
// or sources edited since — it runs the TypeScript sources through tsx, as in
// development (OBJECTSYNC_FROM_SOURCE=1 asks for that always).
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

if (compiledIsCurrent()) {
  await import(compiled)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../daemon/main.ts')
}
