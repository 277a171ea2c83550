import { type Logger, pino } from 'pino'

export type { Logger }

export interface LoggerOptions {
  level?: string
  name?: string
}

/** JSON logs to stdout. Errors go under `err`; payloads are never bound into logs. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({ name: options.name ?? 'conveyor', level: options.level ?? 'info' })
}
