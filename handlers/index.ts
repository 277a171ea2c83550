import type { JobDefinition } from '../src/job.ts'
import { greetJob } from './demo.ts'

/** Every job type Conveyor ships; the entry point registers them and provisioning creates their queues. */
export const shippedJobs: JobDefinition[] = [greetJob]
