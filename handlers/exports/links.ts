import { createHmac } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'

const AUDIENCE = 'conveyor:export-download'

export interface LinkTarget {
  owner: string
  exportId: string
}

/**
 * Download links that work from an email client (no bearer token): `<APP_URL>/links/exports/<token>`,
 * where the token is a JWT naming the owner and the export and expiring with it. Its key is derived
 * from AUTH_JWT_SECRET, so a link can never be replayed as an API bearer token, and API and worker
 * processes that share the secret agree on it.
 */
export class DownloadLinks {
  readonly #appUrl: string
  readonly #key: string

  constructor(options: { secret: string; appUrl: string }) {
    this.#appUrl = options.appUrl.replace(/\/+$/, '')
    this.#key = createHmac('sha256', options.secret).update(AUDIENCE).digest('base64url')
  }

  /** A link to the export that stops working at `expiresAt`. */
  url(target: LinkTarget, expiresAt: Date): string {
    const sign = createSigner({ key: this.#key, algorithm: 'HS256', aud: AUDIENCE, noTimestamp: true })
    const token = sign({
      sub: target.owner,
      eid: target.exportId,
      exp: Math.floor(expiresAt.getTime() / 1000),
    })
    return `${this.#appUrl}/links/exports/${token}`
  }

  /** The export a token points at; throws when it is forged, mangled or expired. */
  verify(token: string): LinkTarget {
    const claims = createVerifier({ key: this.#key, algorithms: ['HS256'], allowedAud: AUDIENCE })(token) as {
      sub?: unknown
      eid?: unknown
    }
    if (typeof claims.sub !== 'string' || typeof claims.eid !== 'string')
      throw new Error('link token lacks sub or eid')
    return { owner: claims.sub, exportId: claims.eid }
  }

  /** Where the API reports an export's status. */
  statusUrl(exportId: string): string {
    return `${this.#appUrl}/v1/exports/${exportId}`
  }

  /** Where the API serves an export to its signed-in owner. */
  apiDownloadUrl(exportId: string): string {
    return `${this.#appUrl}/v1/exports/${exportId}/download`
  }
}
