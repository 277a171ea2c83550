import { MemoryJobStore } from '../../adapters/memory/index.ts'
import type { JobStore } from '../../src/store/job-store.ts'
import type { StoreOptions } from './job-store-harness.ts'
import { runJobStoreConformance } from './job-store-suite.ts'

/**
 * A memory store's state lives in its instance, so "two processes" are two handles on one instance: one
 * per clock and options (each case that moves time has its own clock). A handle's close leaves it open.
 */
const instances = new Map<string, MemoryJobStore>()
const clockIds = new WeakMap<object, number>()

function key(options: StoreOptions): string {
  const clockId = options.clock ? clockIds.get(options.clock) : 0
  return JSON.stringify([clockId, options.recordTtlMs, options.resultMaxBytes])
}

let nextClockId = 1
function handle(options: StoreOptions): JobStore {
  if (options.clock && !clockIds.has(options.clock)) clockIds.set(options.clock, nextClockId++)
  const k = key(options)
  let store = instances.get(k)
  if (!store) {
    store = new MemoryJobStore(options, options)
    instances.set(k, store)
  }
  const target = store
  return new Proxy(target, {
    get(obj, prop) {
      if (prop === 'close') return async () => {}
      const value = Reflect.get(obj, prop, obj)
      return typeof value === 'function' ? value.bind(obj) : value
    },
  })
}

runJobStoreConformance({
  name: 'memory',
  capabilities: {
    orderedListWithoutOwner: true,
    expiryGranularityMs: 0,
    shortPages: false,
    readsPerTransition: 0,
    remote: false,
  },
  createStore: async (options = {}) => handle(options),
  teardown: async () => {
    for (const store of instances.values()) await store.close()
  },
  createUnreachableStore: async () => {
    const store = new MemoryJobStore()
    await store.close()
    return { store, stop: async () => {} }
  },
})
