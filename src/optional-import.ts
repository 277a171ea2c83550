import { MissingDependencyError } from './errors.ts'

const NOT_FOUND = /Cannot find (?:package|module) '((?:@[^/']+\/)?[^/'.][^/']*)/

/**
 * Runs `load` (a dynamic `import()` of a module that needs an optional package) and turns "cannot
 * find package X" into a MissingDependencyError naming X and the `feature` that needs it. Any other
 * failure is rethrown as it is.
 */
export async function importOptional<T>(load: () => Promise<T>, feature: string): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown }
    const missing =
      (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && typeof e.message === 'string'
        ? NOT_FOUND.exec(e.message)?.[1]
        : undefined
    if (missing) throw new MissingDependencyError(missing, feature, { cause: err })
    throw err
  }
}
