import { ConveyorError } from './errors.ts'

/**
 * A package that is not installed. The AWS and Google SDKs are optional peer dependencies of the
 * package: a memory-only app never installs or loads them, and the first use of a backend that needs
 * one says which package to add.
 */
export class MissingDependencyError extends ConveyorError {
  readonly packageName: string
  constructor(packageName: string, feature: string, options: { cause?: unknown } = {}) {
    super(
      'MISSING_DEPENDENCY',
      `install ${packageName} to use ${feature} (npm install ${packageName})`,
      options,
    )
    this.packageName = packageName
  }
}

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
