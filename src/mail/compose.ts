import MailComposer from 'nodemailer/lib/mail-composer/index.js'
import type { MailMessage } from './mailer.ts'

/** The message as RFC 5322 MIME (multipart/alternative: text, then HTML), built by nodemailer's MailComposer. */
export function composeMime(message: MailMessage, defaultFrom: string): Promise<Buffer> {
  return new MailComposer({
    from: message.from ?? defaultFrom,
    to: message.to,
    replyTo: message.replyTo,
    subject: message.subject,
    text: message.text,
    html: message.html,
  })
    .compile()
    .build()
}
