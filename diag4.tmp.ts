import { Firestore, setLogFunction } from '@google-cloud/firestore'
import { FirestoreJobStore } from './adapters/firestore/index.ts'
import { deadlines } from './adapters/firestore/job-store.ts'
import { startFirestoreEmulator } from './test/support/firestore-emulator.ts'
import { startStallingProxy } from './test/support/stores.ts'

const emu = await startFirestoreEmulator()
const t0 = Date.now()
if (process.env.FSLOG) setLogFunction((m) => console.log(Date.now() - t0, m.slice(40, 220)))
try {
  const proxy = await startStallingProxy(Number(emu.host.split(':')[1]))
  delete process.env.FIRESTORE_EMULATOR_HOST
  const firestore = new Firestore({
    projectId: 'p',
    host: proxy.host,
    ssl: false,
    clientConfig: deadlines(500),
  })
  const store = new FirestoreJobStore({ requestTimeoutMs: 500 }, { firestore, terminateOnClose: true })
  const which = process.argv[2]!
  const ops: Record<string, () => Promise<unknown>> = {
    ping: () => store.ping(),
    create: () => store.create({ id: 'x', type: 't', queue: 'q', maxAttempts: 1, createdAt: 1 }),
    get: () => store.get('x'),
    tx: () => store.requestCancel('x'),
    list: () => store.list({ owner: 's' }),
    claim: () => store.claim('k', 'v', 1000),
    add: () => store.add('k', 1, 1000),
  }
  await Promise.all(
    (which === 'all' ? Object.values(ops) : [ops[which]!]).map((op) =>
      op().catch((e) => console.log('rejected', e.message)),
    ),
  )
  proxy.resume()
  console.log('resumed', Date.now() - t0)
  await store.close()
  console.log('closed', Date.now() - t0)
  await proxy.stop()
} finally {
  await emu.stop()
  console.log('emu stopped', Date.now() - t0)
}
