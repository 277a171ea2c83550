import { join } from 'node:path'
import { Eta } from 'eta'

/** The data each template takes. */
export interface TemplateData {
  welcome: { name: string }
  'weekly-summary': {
    name: string
    period: string
    figures: { label: string; value: string }[]
    longest?: { date: string; type: string; minutes: number; notes: string }
  }
  'export-ready': {
    /** What was exported, as it reads mid-sentence ("activities"; see `midSentence`). */
    kind: string
    /** How many rows, formatted ("1,204 rows", "1 row"). */
    rows: string
    size: string
    format: string
    link: string
    expiresAt: string
  }
}
export type TemplateName = keyof TemplateData

const SUBJECTS: { [N in TemplateName]: (data: TemplateData[N], product: string) => string } = {
  welcome: (d, product) => `Welcome to ${product}, ${d.name}`,
  'weekly-summary': (d) => `Your week: ${d.figures[0]?.value ?? 0} activities`,
  'export-ready': (d) => `Your ${d.kind} export (${d.format}) is ready`,
}

/** A title as it reads inside a sentence: "Activities" → "activities"; "GPS tracks" stays. */
export function midSentence(title: string): string {
  return /^[A-Z][a-z]/.test(title) ? title[0]!.toLowerCase() + title.slice(1) : title
}

export interface RenderedEmail {
  subject: string
  html: string
  text: string
}

const VIEWS = join(import.meta.dirname, 'templates')

/**
 * The email templates in `handlers/email/templates`: `<name>.html.eta` (inline styles, inside
 * `_layout.html.eta`) and `<name>.txt.eta`. HTML output is escaped (`<%= %>`); the text part is not,
 * since it is not HTML. Templates are compiled once and cached.
 */
export class EmailTemplates {
  readonly #html = new Eta({ views: VIEWS, cache: true, autoEscape: true })
  readonly #text = new Eta({ views: VIEWS, cache: true, autoEscape: false, autoTrim: false })
  readonly #appUrl: string
  readonly #product: string

  /** `product` (BRAND_NAME) names the sender in the header, the footer and the welcome subject. Default "Conveyor". */
  constructor(options: { appUrl: string; product?: string }) {
    this.#appUrl = options.appUrl.replace(/\/+$/, '')
    this.#product = options.product ?? 'Conveyor'
  }

  render<N extends TemplateName>(name: N, data: TemplateData[N]): RenderedEmail {
    // A subject is one header line: user text must not add lines to it.
    const subject = SUBJECTS[name](data, this.#product).replace(/[\r\n]+/g, ' ')
    const it = { ...data, subject, appUrl: this.#appUrl, product: this.#product }
    return {
      subject,
      html: this.#html.render(`./${name}.html.eta`, it),
      text: `${this.#text
        .render(`./${name}.txt.eta`, it)
        .replace(/\n{3,}/g, '\n\n')
        .trim()}\n`,
    }
  }
}
