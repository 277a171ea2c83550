import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { type BrowserContext, chromium, type Page } from 'playwright-core'

/** Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it when missing). */
export const CHROMIUM = '/usr/bin/chromium'

/** Where browser tests leave screenshots and renders for a person to look at (gitignored). */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-output', 'screenshots')

/**
 * A headless Chromium with a fresh profile (its --user-data-dir, a new temporary folder), closed (and its profile removed) when the test ends. Each
 * page has a 20 s default timeout, so a missing element fails the test instead of hanging it.
 */
export async function launchBrowser(
  t: TestContext,
): Promise<{ browser: BrowserContext; newPage(): Promise<Page> }> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run installs it when missing)`)
  const profile = await mkdtemp(join(tmpdir(), 'conveyor-chromium-'))
  // A persistent context is how Playwright takes a user-data dir of our choosing (it refuses the flag).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  t.after(async () => {
    await browser.close()
    await rm(profile, { recursive: true, force: true })
  })
  return {
    browser,
    async newPage() {
      const page = await browser.newPage()
      page.setDefaultTimeout(20_000)
      return page
    },
  }
}

/** Saves a full-page screenshot as test-output/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true })
  const path = join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}
