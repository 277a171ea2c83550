import { ConveyorError } from './errors.ts'
import type { JobDefinition } from './job.ts'

/** Job definitions by type. A type can be registered once. */
export class JobRegistry {
  readonly #jobs = new Map<string, JobDefinition>()

  constructor(jobs: Iterable<JobDefinition> = []) {
    for (const job of jobs) this.register(job)
  }

  register(job: JobDefinition): this {
    if (this.#jobs.has(job.type)) {
      throw new ConveyorError('DUPLICATE_JOB_TYPE', `job type "${job.type}" is already registered`)
    }
    this.#jobs.set(job.type, job)
    return this
  }

  get(type: string): JobDefinition | undefined {
    return this.#jobs.get(type)
  }

  /** The queues the registered jobs are sent to, each once. */
  queues(): string[] {
    return [...new Set([...this.#jobs.values()].map((j) => j.queue))]
  }

  [Symbol.iterator](): Iterator<JobDefinition> {
    return this.#jobs.values()
  }
}
