// `conveyor/mail`: the mailer contract and the outbox mailer (files). SES is `conveyor/mail/ses`
// (it needs the optional @aws-sdk/client-ses).
export type { Mailer, MailMessage, SentMail } from './mailer.ts'
export { type OutboxEntry, OutboxMailer } from './outbox.ts'
