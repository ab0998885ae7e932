// The objectsync command line: the commander program with every command, in the order
// `--help` lists them.
import { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PACKAGE_ROOT } from '../package-root.ts'
import { addDemoCommand } from './demo-command.ts'
import { addHistoryCommand } from './history-command.ts'
import { addInstanceCommands } from './instance-commands.ts'
import { addKeygenCommand, addPeerCommands } from './peer-commands.ts'
import { addPlanCommand, addStatusCommand } from './status-commands.ts'

const packageJson = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  version: string
}

export function program(): Command {
  const root = new Command('objectsync')
    .description(
      'Keeps people, organizations, transactions and files in sync between independent instances, with no central server.',
    )
    .version(packageJson.version)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) })
  addInstanceCommands(root)
  addStatusCommand(root)
  addPeerCommands(root)
  addPlanCommand(root)
  addHistoryCommand(root)
  addKeygenCommand(root)
  addDemoCommand(root)
  return root
}
