import { MemoryQueue } from '../../adapters/memory/index.ts'
import { runConformance } from './suite.ts'

let counter = 0

runConformance({
  name: 'memory',
  capabilities: {
    leaseMs: 200,
    delayMs: 150,
    nativeDelayLimitMs: null,
    approximateStats: false,
    reportsStats: true,
    eventTimeoutMs: 5_000,
  },
  createQueue: async () => new MemoryQueue({ leaseMs: 30_000 }),
  queueName: (base) => `${base}-${++counter}`,
})
