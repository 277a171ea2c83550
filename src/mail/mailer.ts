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
  /** The provider's id (SES MessageId), or the outbox file name. */
  messageId: string
}

/** Sends email: the local outbox (the embedded default) or SES. */
export interface Mailer {
  readonly driver: 'outbox' | 'ses'
  send(message: MailMessage, signal?: AbortSignal): Promise<SentMail>
}
