import { type SESClient, SendRawEmailCommand } from '@aws-sdk/client-ses'
import { composeMime } from './compose.ts'
import type { Mailer, MailMessage, SentMail } from './mailer.ts'
import { SendRate } from './send-rate.ts'

export interface SesMailerOptions {
  client: SESClient
  from: string
  /** SES's maximum send rate for the account (messages per second). Default 14 (SES's production default). */
  maxSendRate?: number
}

/**
 * SES through SendRawEmail (HTML and text parts). Sends are spaced to stay under the account's
 * maximum send rate, across all concurrent jobs in this process.
 */
export class SesMailer implements Mailer {
  readonly driver = 'ses'
  readonly #client: SESClient
  readonly #from: string
  readonly #rate: SendRate

  constructor(options: SesMailerOptions) {
    this.#client = options.client
    this.#from = options.from
    this.#rate = new SendRate(options.maxSendRate ?? 14)
  }

  async send(message: MailMessage, signal?: AbortSignal): Promise<SentMail> {
    const raw = await composeMime(message, this.#from)
    await this.#rate.wait(signal)
    const out = await this.#client.send(new SendRawEmailCommand({ RawMessage: { Data: raw } }), {
      abortSignal: signal,
    })
    return { messageId: out.MessageId ?? '' }
  }

  /** The SES client belongs to the caller; nothing to release here. */
  async close(): Promise<void> {}
}
