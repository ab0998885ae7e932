// `objectsync history ID`: who changed a record, when, and from what to what.
import { InvalidArgumentError, type Command } from 'commander'
import { callDaemon } from '../client.ts'
import { describeHistory, type HistoryJson } from '../describe-history.ts'
import { commandName, dirOption, jsonOption, print } from './options.ts'

function parseLimit(value: string): number {
  const limit = Number(value)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError('expected a whole number from 1 to 1000')
  }
  return limit
}

export function addHistoryCommand(root: Command): void {
  root
    .command('history')
    .description('who changed a record, when, and each field from and to (the latest changes)')
    .argument('<id>', "the record's id")
    .addOption(dirOption())
    .option('--limit <n>', 'how many changes (1–1000, default 100)', parseLimit)
    .option('--before <cursor>', 'older changes: the cursor a previous answer printed')
    .addOption(jsonOption())
    .action(
      async (
        id: string,
        options: { dir: string; json?: boolean; limit?: number; before?: string },
      ) => {
        const query = new URLSearchParams()
        if (options.limit !== undefined) query.set('limit', String(options.limit))
        if (options.before !== undefined) query.set('before', options.before)
        const path = `/v1/objects/${encodeURIComponent(id)}`
        const history = (await callDaemon(
          options.dir,
          'GET',
          `${path}/history${query.size === 0 ? '' : `?${query.toString()}`}`,
        )) as HistoryJson
        if (options.json === true) return print(true, history, '')
        const object = (await callDaemon(options.dir, 'GET', path)) as { label?: string }
        print(false, history, describeHistory(history, object.label ?? '', commandName()))
      },
    )
}
