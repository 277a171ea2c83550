import { type Logger, pino } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

export type LogFormat = 'json' | 'pretty'

export interface LoggerOptions {
  level?: string
  name?: string
  /** `json` (one object per line, for production and log shippers) or `pretty` (readable lines). Default json. */
  format?: LogFormat
  /** Where lines go. Default stdout. */
  destination?: NodeJS.WritableStream
}

/**
 * LOG_FORMAT when set; else `pretty` in a terminal during development (stdout is a TTY and NODE_ENV is
 * not production) and `json` everywhere else (containers, files, pipes, production).
 */
export function logFormat(
  setting: LogFormat | undefined,
  env: string,
  isTTY = Boolean(process.stdout.isTTY),
): LogFormat {
  return setting ?? (isTTY && env !== 'production' ? 'pretty' : 'json')
}

/** Logs to stdout, JSON or pretty. Errors go under `err`; payloads are never bound into logs. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = { name: options.name ?? 'conveyor', level: options.level ?? 'info' }
  if (options.format === 'pretty') {
    const destination = options.destination ?? process.stdout
    const colorize = Boolean((destination as { isTTY?: boolean }).isTTY)
    return pino(
      settings,
      pretty({
        destination,
        sync: true,
        colorize,
        singleLine: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,name',
      }),
    )
  }
  return options.destination ? pino(settings, options.destination) : pino(settings)
}
