import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Where the development secret is kept: in the storage folder, next to the exports and the outbox. */
export function devSecretPath(storageDir: string): string {
  return join(storageDir, 'dev-jwt-secret')
}

/**
 * The HS256 secret used when AUTH_JWT_SECRET is unset (development only; production requires it). It is
 * made once and kept in STORAGE_DIR, so tokens and emailed download links survive a restart, and the
 * CLI's `token` command signs with the same one. `created` says whether this call made it.
 */
export function devSecret(storageDir: string): { secret: string; path: string; created: boolean } {
  const path = devSecretPath(storageDir)
  try {
    const secret = readFileSync(path, 'utf8').trim()
    if (secret.length >= 32) return { secret, path, created: false }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err
  }
  mkdirSync(storageDir, { recursive: true })
  const secret = randomBytes(32).toString('base64url')
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    // Another process made it first: use theirs.
    if ((err as { code?: string }).code === 'EEXIST') return devSecret(storageDir)
    throw err
  }
  return { secret, path, created: true }
}
