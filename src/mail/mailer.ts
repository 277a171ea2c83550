/** One email: an HTML part and a plain-text part. */
export interface MailMessage {
  to: string | string[]
  subject: string
  html: string
  text: string
  /** Defaults to the mailer's configured sender (MAIL_FROM). */
  from?: string
  replyTo?: string
}

export interface SentMail {
  /** The provider's id (SES MessageId, the SMTP Message-ID), or the outbox file name. */
  messageId: string
}

/**
 * Sends email: the local outbox (the embedded default), SES or an SMTP relay.
 * `send` resolves once the provider has accepted the message. It rejects with a NonRetryableError
 * subclass (MailRejectedError) when sending the same message again cannot succeed (bad credentials,
 * a permanently refused sender or recipient), and with a plain retryable error otherwise (network,
 * throttling): the worker then retries the job. Sends are spaced to the provider's rate by the mailer.
 * `close` releases connections; no send may be made after it.
 */
export interface Mailer {
  readonly driver: 'outbox' | 'ses' | 'smtp'
  send(message: MailMessage, signal?: AbortSignal): Promise<SentMail>
  close(): Promise<void>
}
