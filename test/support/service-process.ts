import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The service's entry point, as `npm start` runs it. */
export const MAIN = fileURLToPath(new URL('../../src/service/main.ts', import.meta.url))

/** `npm start` as a child process, with its output (stdout and stderr) read line by line. */
export function startService(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = []
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line)
      for (const w of waiters.splice(0))
        if (w.match(line)) w.resolve(line)
        else waiters.push(w)
    })
  }
  /** Resolves with the first output line that matches (already printed or still to come). */
  const line = (pattern: RegExp, timeoutMs = 20_000): Promise<string> => {
    const seen = lines.find((l) => pattern.test(l))
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no line matching ${pattern}:\n${lines.join('\n')}`)),
        timeoutMs,
      )
      waiters.push({
        match: (l) => pattern.test(l),
        resolve: (l) => {
          clearTimeout(timer)
          resolve(l)
        },
      })
    })
  }
  return { child, lines, line }
}

/** The child's exit code, once it has exited. */
export async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const [code] = (await once(child, 'exit')) as [number | null]
  return code
}
