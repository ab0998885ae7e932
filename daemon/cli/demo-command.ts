// `objectsync demo`: three throwaway instances showing pairing, an offline edit and the merge.
import type { Command } from 'commander'

export function addDemoCommand(root: Command): void {
  root
    .command('demo')
    .description(
      'three instances in a temporary folder pair, edit one person while disconnected, merge, and show it; removes what it made',
    )
    .option('--verbose', "also write the instances' logs (JSON lines) to stderr")
    .action(async (options: { verbose?: boolean }) => {
      // Ctrl-C ends the demo at the next step or wait, after it has cleaned up.
      const interrupted = new AbortController()
      const interrupt = () => interrupted.abort(new Error('interrupted'))
      process.once('SIGINT', interrupt)
      process.once('SIGTERM', interrupt)
      try {
        const [{ createLogger }, { runDemo }] = await Promise.all([
          import('../../src/log.ts'),
          import('../demo.ts'),
        ])
        await runDemo({
          say: (line) => process.stdout.write(`${line}\n`),
          signal: interrupted.signal,
          ...(options.verbose === true
            ? { logger: createLogger({ destination: process.stderr }) }
            : {}),
        })
      } finally {
        process.off('SIGINT', interrupt)
        process.off('SIGTERM', interrupt)
      }
    })
}
