import { NonRetryableError } from '../../src/errors.ts'
import type { Mailer, SentMail } from '../../src/mail/mailer.ts'
import type { RecipientLimit } from './recipient-limit.ts'
import type { EmailTemplates, TemplateData, TemplateName } from './templates.ts'

/** Renders a template and sends it, within the per-recipient hourly limit. */
export class EmailSender {
  readonly mailer: Mailer
  readonly templates: EmailTemplates
  readonly #limit: RecipientLimit

  constructor(options: { mailer: Mailer; templates: EmailTemplates; limit: RecipientLimit }) {
    this.mailer = options.mailer
    this.templates = options.templates
    this.#limit = options.limit
  }

  /**
   * Counts the email against `to`'s hourly limit (given back if the send fails).
   * Throws NonRetryableError when `to` has had its hourly share: the job is dead-lettered with that
   * reason (and can be redriven), rather than retried into the same wall or dropped unseen.
   */
  async send<N extends TemplateName>(
    name: N,
    to: string,
    data: TemplateData[N],
    signal?: AbortSignal,
  ): Promise<SentMail> {
    const rendered = this.templates.render(name, data)
    if (!(await this.#limit.take(to))) {
      throw new NonRetryableError(
        `recipient ${to} has already received ${this.#limit.perHour} email${this.#limit.perHour === 1 ? '' : 's'} in the last hour (MAIL_PER_RECIPIENT_PER_HOUR)`,
      )
    }
    try {
      return await this.mailer.send({ to, ...rendered }, signal)
    } catch (err) {
      // Not sent: the address keeps its slot for the retry (or the next email).
      await this.#limit.giveBack(to).catch(() => undefined)
      throw err
    }
  }
}
