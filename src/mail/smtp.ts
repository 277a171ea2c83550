import { setTimeout as sleep } from 'node:timers/promises'
import { createTransport, type Transporter } from 'nodemailer'
import type SMTPPool from 'nodemailer/lib/smtp-pool'
import { MailRejectedError, MailUnavailableError } from '../errors.ts'
import type { Mailer, MailMessage, SentMail } from './mailer.ts'
import { SendRate } from './send-rate.ts'

export interface SmtpMailerOptions {
  /**
   * `smtp://user:pass@host:587` (STARTTLS when the server offers it) or `smtps://user:pass@host:465`
   * (TLS from the first byte). User and password URL-encoded. Query options go to nodemailer, e.g.
   * `?tls.rejectUnauthorized=false` for a relay with a self-signed certificate.
   */
  url: string
  from: string
  /** Refuse to send unless the connection is upgraded with STARTTLS (ignored for smtps://). Default true. */
  requireTls?: boolean
  /** Pooled connections kept open to the relay. Default 5. */
  maxConnections?: number
  /** Messages per second, at most, across this process. Default 10. */
  maxSendRate?: number
  /** Further tries, each on a fresh connection, after the connection dropped mid-send. Default 2. */
  retries?: number
}

/**
 * Any SMTP relay (SendGrid, Mailgun, Postmark, your own) through nodemailer's pooled transport: the
 * same MIME (text and HTML parts) as SES. A connection that drops mid-send is retried on a fresh one
 * (`retries`); what still fails is MailUnavailableError (retryable) or, for a refusal that would
 * repeat (authentication, a 5xx reply), MailRejectedError (non-retryable).
 */
export class SmtpMailer implements Mailer {
  readonly driver = 'smtp'
  readonly #transport: Transporter<SMTPPool.SentMessageInfo>
  readonly #from: string
  readonly #rate: SendRate
  readonly #retries: number

  constructor(options: SmtpMailerOptions) {
    const secure = options.url.startsWith('smtps:')
    this.#transport = createTransport({
      url: options.url,
      pool: true,
      maxConnections: options.maxConnections ?? 5,
      maxRequeues: 0, // retried below, where the error's kind is known
      requireTLS: !secure && (options.requireTls ?? true),
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 60_000,
    } as SMTPPool.Options)
    this.#from = options.from
    this.#rate = new SendRate(options.maxSendRate ?? 10)
    this.#retries = options.retries ?? 2
  }

  async send(message: MailMessage, signal?: AbortSignal): Promise<SentMail> {
    for (let attempt = 0; ; attempt++) {
      await this.#rate.wait(signal)
      try {
        const info = await this.#transport.sendMail({
          from: message.from ?? this.#from,
          to: message.to,
          replyTo: message.replyTo,
          subject: message.subject,
          text: message.text,
          html: message.html,
          ...(signal ? { signal } : {}),
        })
        return { messageId: info.messageId }
      } catch (err) {
        const failure = classify(err)
        // A dropped connection (a relay restart, an idle pooled connection the relay closed): the
        // pool opens a fresh one. The relay may have the message already: at-least-once, like every retry.
        if (!(failure instanceof MailUnavailableError) || !isTransient(err) || attempt >= this.#retries)
          throw failure
        await sleep(100 * 2 ** attempt, undefined, { signal })
      }
    }
  }

  async close(): Promise<void> {
    this.#transport.close()
  }
}

interface SmtpFailure {
  code?: string
  responseCode?: number
  response?: string
  message?: string
  name?: string
}

/** The connection ended under the message, rather than the relay answering about it. */
function isTransient(err: unknown): boolean {
  const e = (err ?? {}) as SmtpFailure
  return e.responseCode === 421 || e.code === 'ECONNECTION' || e.code === 'ESOCKET' || e.code === 'ETIMEDOUT'
}

const PERMANENT_CODES = new Set(['EAUTH', 'ENOAUTH', 'EENVELOPE', 'EREQUIRETLS', 'ECONFIG'])

/** Auth failures and 5xx replies (except 503, a session-state error) repeat: the rest may pass later. */
function classify(err: unknown): Error {
  const e = (err ?? {}) as SmtpFailure
  if (e.name === 'AbortError') return err as Error
  const reply = e.response ? `: ${e.response}` : ''
  const responseCode = e.responseCode
  if (e.code === 'EAUTH' || e.code === 'ENOAUTH') {
    return new MailRejectedError(`the SMTP relay refused the credentials in SMTP_URL${reply}`, {
      cause: err,
      ...(responseCode ? { responseCode } : {}),
    })
  }
  if (
    (e.code && PERMANENT_CODES.has(e.code)) ||
    (responseCode !== undefined && responseCode >= 500 && responseCode < 600 && responseCode !== 503)
  ) {
    return new MailRejectedError(`the SMTP relay refused the message${reply || `: ${e.message}`}`, {
      cause: err,
      ...(responseCode ? { responseCode } : {}),
    })
  }
  return new MailUnavailableError(`the SMTP relay is unavailable: ${e.message ?? String(err)}`, {
    cause: err,
    ...(responseCode ? { responseCode } : {}),
  })
}
