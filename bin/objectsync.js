#!/usr/bin/env node
// The package's executable: runs the TypeScript daemon entry through tsx, since Node 20
// cannot strip types itself.
import { register } from 'tsx/esm/api'

register()
await import('../daemon/main.ts')
