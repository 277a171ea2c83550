import { randomUUID } from 'node:crypto'
import { deadlines } from '../../adapters/firestore/calls.ts'
import { FirestoreJobStore } from '../../adapters/firestore/index.ts'
import { startOutageProxy } from '../support/emulators.ts'
import {
  type FirestoreEmulator,
  firestoreSkipReason,
  startFirestoreEmulator,
} from '../support/firestore-emulator.ts'
import { startStallingProxy } from '../support/stores.ts'
import { runJobStoreConformance } from './job-store-suite.ts'

const skip = firestoreSkipReason()
let emulator: FirestoreEmulator | undefined
/**
 * The unreachable cases go through proxies to the emulator. The Firestore client keeps retrying a
 * timed-out call underneath for up to its own deadline (60 s for a commit, whatever the settings say);
 * the store has long since rejected it, and terminates the client only when such calls end. So after a
 * case the proxy is put back in the path, the calls finish, and the proxies close after the last case.
 */
const proxies: { stop(): Promise<void> }[] = []
/** Collections of this run only (an external emulator may hold earlier runs' documents). */
const collectionPrefix = `t${randomUUID().slice(0, 8)}-`

/** A client for an address where the store cannot be reached (the emulator host variable is per process). */
async function unreachable(host: string, connectFirst = false): Promise<FirestoreJobStore> {
  const { Firestore } = await import('@google-cloud/firestore')
  // FIRESTORE_EMULATOR_HOST would override `host`; the client reads it only while it is constructed.
  const emulatorHost = process.env.FIRESTORE_EMULATOR_HOST
  delete process.env.FIRESTORE_EMULATOR_HOST
  const firestore = new Firestore({
    projectId: 'conveyor-test',
    host,
    ssl: false,
    clientConfig: deadlines(500),
  })
  if (emulatorHost) process.env.FIRESTORE_EMULATOR_HOST = emulatorHost
  // Connecting takes a while for a new client; done here, outside the store's short deadline.
  if (connectFirst) await firestore.doc('warm/up').get()
  return new FirestoreJobStore(
    { collectionPrefix, requestTimeoutMs: 500 },
    { firestore, terminateOnClose: true },
  )
}

if (!skip) {
  runJobStoreConformance({
    name: 'firestore',
    capabilities: {
      orderedListWithoutOwner: true,
      expiryGranularityMs: 0,
      shortPages: false,
      readsPerTransition: 1,
      remote: true,
    },
    setup: async () => {
      emulator = await startFirestoreEmulator()
    },
    teardown: async () => {
      for (const proxy of proxies) await proxy.stop()
      await emulator?.stop()
    },
    createStore: async ({ clock, ...options } = {}) =>
      new FirestoreJobStore(
        // A generous deadline: a new client's first call includes connecting, on a busy machine.
        { projectId: emulator!.projectId, collectionPrefix, requestTimeoutMs: 15_000, ...options },
        clock ? { clock } : {},
      ),
    createUnreachableStore: async (kind) => {
      const emulatorPort = Number(emulator!.host.split(':').at(-1))
      if (kind === 'closed') {
        const proxy = await startOutageProxy(emulatorPort)
        proxies.push(proxy)
        await proxy.cut()
        return {
          store: await unreachable(proxy.endpoint.replace('http://', '')),
          stop: () => proxy.restore(),
        }
      }
      // Connected first, then stalled: a backend that stops answering on an open connection.
      const proxy = await startStallingProxy(emulatorPort)
      proxies.push(proxy)
      const store = await unreachable(proxy.host, true)
      proxy.stall()
      return { store, stop: async () => proxy.reset() }
    },
  })
}
