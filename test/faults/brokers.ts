import { type RunningEmulator, startFauxqs } from '../support/emulators.ts'
import { type PubSubEmulator, startPubSubEmulator } from '../support/pubsub-emulator.ts'
import type { Backend } from './backends.ts'

/** The brokers the suite runs against, started on first use and stopped by `close`. */
export class Brokers {
  #fauxqs: Promise<RunningEmulator> | undefined
  #pubsub: Promise<PubSubEmulator> | undefined

  fauxqs(): Promise<RunningEmulator> {
    this.#fauxqs ??= startFauxqs()
    return this.#fauxqs
  }

  pubsub(): Promise<PubSubEmulator> {
    this.#pubsub ??= startPubSubEmulator()
    return this.#pubsub
  }

  /** host:port of the broker for `backend`. */
  async port(backend: Backend): Promise<number> {
    if (backend === 'sqs') return (await this.fauxqs()).port
    return Number((await this.pubsub()).host.split(':').at(-1))
  }

  async close(): Promise<void> {
    await Promise.all([this.#fauxqs?.then((e) => e.stop()), this.#pubsub?.then((e) => e.stop())])
  }
}
