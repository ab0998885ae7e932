// The commands that ask the running daemon what it holds and would do: status and plan.
import type { Command } from 'commander'
import { callDaemon, findDaemon, statusPageUrl } from '../client.ts'
import { describePlan, describeStatus, type PlanJson, type StatusJson } from '../describe.ts'
import { dirOption, jsonOption, print } from './options.ts'

export function addStatusCommand(root: Command): void {
  root
    .command('status')
    .description('instance id, object counts, peers, conflicts and matches waiting for review')
    .addOption(dirOption())
    .option(
      '--with-token',
      "the status page's link with the API token in it (keep such output out of logs)",
    )
    .addOption(jsonOption())
    .action(async (options: { dir: string; json?: boolean; withToken?: boolean }) => {
      const status = (await callDaemon(options.dir, 'GET', '/v1/status')) as StatusJson
      const page = statusPageUrl(await findDaemon(options.dir), options.withToken === true)
      const open =
        options.withToken === true ? page : `${page} (it asks for the token in DIR/api-token)`
      print(options.json === true, status, `${describeStatus(status)}\nstatus page: ${open}`)
    })
}

export function addPlanCommand(root: Command): void {
  root
    .command('plan')
    .description('what the next run would do, per peer, without writing anything')
    .addOption(dirOption())
    .addOption(jsonOption())
    .action(async (options: { dir: string; json?: boolean }) => {
      const plan = (await callDaemon(options.dir, 'GET', '/v1/plan')) as PlanJson
      print(options.json === true, plan, describePlan(plan))
    })
}
