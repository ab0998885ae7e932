// The process's memory as `objectsync start` holds it, in one call for every process that
// runs an instance (the daemon and the benchmarks' peers): the JavaScript heap's growth
// held (heap-growth.ts), and freed native memory handed back (malloc-trim.ts).
import { limitHeapGrowth } from './heap-growth.ts'
import { trimFreedMemory, type MallocTrimmer } from './malloc-trim.ts'

/**
 * Holds this process's memory as the daemon does; call where the process starts.
 * Returns the trimmer, if it trims (`onNoTrim` is told why not, or why it stopped).
 * A bad setting in the environment throws INVALID_CONFIG, naming it.
 */
export function holdMemory(onNoTrim?: (reason: string) => void): MallocTrimmer | undefined {
  limitHeapGrowth()
  return trimFreedMemory(onNoTrim)
}
