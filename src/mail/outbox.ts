import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { isId, newId } from '../ids.ts'
import { composeMime } from './compose.ts'
import type { Mailer, MailMessage, SentMail } from './mailer.ts'

export interface OutboxEntry {
  id: string
  to: string[]
  subject: string
  createdAt: string
}

/**
 * Development mail: each message becomes `<id>.eml` (the exact MIME that SES would get) plus `<id>.html`
 * (open it in a browser) and `<id>.json` (who, what, when) in one folder.
 */
export class OutboxMailer implements Mailer {
  readonly driver = 'outbox'
  readonly dir: string
  readonly #from: string

  constructor(dir: string, from: string) {
    this.dir = resolve(dir)
    this.#from = from
  }

  async send(message: MailMessage): Promise<SentMail> {
    await mkdir(this.dir, { recursive: true })
    const id = newId()
    const entry: OutboxEntry = {
      id,
      to: [message.to].flat(),
      subject: message.subject,
      createdAt: new Date().toISOString(),
    }
    await writeFile(join(this.dir, `${id}.eml`), await composeMime(message, this.#from))
    await writeFile(join(this.dir, `${id}.html`), message.html)
    await writeFile(join(this.dir, `${id}.json`), JSON.stringify(entry, null, 2))
    return { messageId: id }
  }

  /** Files only: nothing to release. */
  async close(): Promise<void> {}

  /** Newest first. */
  async list(): Promise<OutboxEntry[]> {
    let files: string[]
    try {
      files = await readdir(this.dir)
    } catch {
      return []
    }
    const entries = await Promise.all(
      files
        .filter((f) => f.endsWith('.json'))
        .map(async (f) => JSON.parse(await readFile(join(this.dir, f), 'utf8')) as OutboxEntry),
    )
    return entries.sort((a, b) => b.id.localeCompare(a.id))
  }

  /** The stored `.eml` or `.html` of one message, or undefined. */
  async read(id: string, kind: 'eml' | 'html'): Promise<string | undefined> {
    if (!isId(id)) return undefined
    return readFile(join(this.dir, `${id}.${kind}`), 'utf8').catch(() => undefined)
  }
}
