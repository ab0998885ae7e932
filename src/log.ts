// A namespaced, injectable logger. Parts of src/ receive a Logger and never create one;
// the daemon creates the root (pino, JSON lines) and tests pass `silentLogger`.
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino'

type LogFn = (fields: Record<string, unknown> | string, message?: string) => void

export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  /** A logger whose lines carry `ns: "<parent>:<name>"`. */
  child(namespace: string): Logger
}

export interface LoggerOptions {
  level?: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /** Where JSON lines go; stdout when absent. */
  destination?: DestinationStream
  namespace?: string
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const root = pino({ level: options.level ?? 'info' }, options.destination)
  return wrap(root, options.namespace ?? 'objectsync')
}

function wrap(target: PinoLogger, namespace: string): Logger {
  const bound = target.child({ ns: namespace })
  const method =
    (level: 'debug' | 'info' | 'warn' | 'error'): LogFn =>
    (fields, message) => {
      if (typeof fields === 'string') bound[level](fields)
      else bound[level](fields, message)
    }
  return {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    child: (name) => wrap(target, `${namespace}:${name}`),
  }
}

const noop: LogFn = () => {}

export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
}
