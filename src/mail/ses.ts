import { type SESClient, SendRawEmailCommand } from '@aws-sdk/client-ses'
import { MailRejectedError, MailUnavailableError } from '../errors.ts'
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
    try {
      const out = await this.#client.send(new SendRawEmailCommand({ RawMessage: { Data: raw } }), {
        abortSignal: signal,
      })
      return { messageId: out.MessageId ?? '' }
    } catch (err) {
      throw classify(err)
    }
  }

  /** The SES client belongs to the caller; nothing to release here. */
  async close(): Promise<void> {}
}

/** SES refusals that sending again cannot fix; everything else (throttling, network) may pass later. */
const PERMANENT = new Set([
  'MessageRejected',
  'MailFromDomainNotVerifiedException',
  'ConfigurationSetDoesNotExistException',
  'AccessDeniedException',
  'InvalidParameterValue',
])

function classify(err: unknown): Error {
  const e = err as { name?: string; message?: string }
  if (e.name === 'AbortError') return err as Error
  if (e.name && PERMANENT.has(e.name)) {
    const hint =
      e.name === 'MessageRejected' && /not verified/i.test(e.message ?? '')
        ? ' (verify the sender with `npm run provision`, then in the SES console; in the SES sandbox recipients too)'
        : ''
    return new MailRejectedError(`SES refused the message: ${e.name}: ${e.message}${hint}`, { cause: err })
  }
  return new MailUnavailableError(`SES is unavailable: ${e.name}: ${e.message ?? String(err)}`, {
    cause: err,
  })
}
