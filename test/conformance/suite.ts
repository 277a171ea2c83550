import assert from 'node:assert/strict'
import { after, afterEach, before, test } from 'node:test'
import Type from 'typebox'
import { createEnvelope } from '../../src/envelope.ts'
import { LeaseLostError, NonRetryableError, QueueUnavailableError } from '../../src/errors.ts'
import { defineJob, type JobContext, type JobSpec } from '../../src/job.ts'
import { Producer } from '../../src/producer.ts'
import { canSendRaw, type Delivery, type Queue } from '../../src/queue.ts'
import { JobOutcomes } from '../../src/testing.ts'
import { Worker } from '../../src/worker.ts'
import type { WorkerOptions } from '../../src/worker-options.ts'
import { deferred, eventually, seededRandom, testLogger } from '../support/async.ts'
import { startOutageProxy } from '../support/emulators.ts'
import { withFailingExtensions } from '../support/failing-extensions.ts'
import type { Harness } from './harness.ts'

const Payload = Type.Object({ n: Type.Integer() })
type Payload = { n: number }

/** Runs every conformance case against one adapter. Test names read `<adapter>: <case>`. */
export function runConformance(h: Harness): void {
  const caps = h.capabilities
  const cleanups: (() => Promise<void>)[] = []
  const wait = caps.eventTimeoutMs

  before(async () => {
    await h.setup?.()
  })
  after(async () => {
    await h.teardown?.()
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function openQueue(): Promise<Queue> {
    const queue = await h.createQueue()
    cleanups.push(() => queue.close())
    return queue
  }

  function job(
    name: string,
    spec: Partial<JobSpec<typeof Payload>> & Pick<JobSpec<typeof Payload>, 'handle'>,
  ) {
    return defineJob({ type: `test.${name}`, schema: Payload, backoff: { baseMs: 10, maxMs: 50 }, ...spec })
  }

  function startWorker(queue: Queue, options: Omit<WorkerOptions, 'queue' | 'logger'>) {
    const worker = new Worker({ queue, logger: testLogger, shutdownGraceMs: 2_000, ...options })
    const outcomes = new JobOutcomes(worker)
    worker.start()
    cleanups.push(async () => {
      outcomes.close()
      await worker.stop()
    })
    return { worker, outcomes, producer: new Producer({ queue, registry: worker.registry }) }
  }

  /** Consumes `queue` directly and resolves with the next delivery. */
  function nextDelivery(queue: Queue, name: string, leaseMs: number): Promise<Delivery> {
    return new Promise((resolve) => {
      let done = false
      const grab = () => {
        if (done) return
        const [delivery] = consumer.take(1)
        if (!delivery) return
        done = true
        void consumer.close()
        resolve(delivery)
      }
      const consumer = queue.consume(name, { prefetch: 1, leaseMs, onReadable: () => queueMicrotask(grab) })
      cleanups.push(() => consumer.close())
      queueMicrotask(grab)
    })
  }

  test(`${h.name}: send and receive round trip`, async () => {
    const queue = await openQueue()
    const seen: { payload: Payload; ctx: Pick<JobContext, 'id' | 'attempt' | 'type' | 'queue'> }[] = []
    const echo = job('echo', {
      queue: h.queueName('roundtrip'),
      handle: (payload, ctx) => {
        seen.push({ payload, ctx: { id: ctx.id, attempt: ctx.attempt, type: ctx.type, queue: ctx.queue } })
      },
    })
    const { producer, outcomes } = startWorker(queue, { jobs: [echo] })
    const sent = await producer.enqueue(echo, { n: 42 })
    await outcomes.waitFor(sent.id, 'success', wait)
    assert.deepEqual(seen, [
      { payload: { n: 42 }, ctx: { id: sent.id, attempt: 1, type: 'test.echo', queue: echo.queue } },
    ])
  })

  test(`${h.name}: batch send delivers every message once`, async () => {
    const queue = await openQueue()
    const seen: number[] = []
    const collect = job('collect', { queue: h.queueName('batch'), handle: ({ n }) => void seen.push(n) })
    const { producer, outcomes } = startWorker(queue, { jobs: [collect], concurrency: 8 })
    const sent = await producer.enqueueMany(
      collect,
      Array.from({ length: 25 }, (_, n) => ({ n })),
    )
    await Promise.all(sent.map((e) => outcomes.waitFor(e.id, 'success', wait)))
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, n) => n),
    )
  })

  test(`${h.name}: delayed message is not delivered before its delay`, async () => {
    const queue = await openQueue()
    const ranAt: number[] = []
    const later = job('later', { queue: h.queueName('delay'), handle: () => void ranAt.push(Date.now()) })
    const { producer, outcomes } = startWorker(queue, { jobs: [later] })
    const now = await producer.enqueue(later, { n: 1 })
    const sentAt = Date.now() // before enqueueing: the delay counts from the envelope's creation
    const delayed = await producer.enqueue(later, { n: 2 }, { delayMs: caps.delayMs })
    await outcomes.waitFor(now.id, 'success', wait)
    await outcomes.waitFor(delayed.id, 'success', wait + caps.delayMs)
    assert.ok(
      ranAt[1]! - sentAt >= caps.delayMs - 50,
      `ran ${ranAt[1]! - sentAt} ms after sending, delay was ${caps.delayMs}`,
    )
  })

  test(`${h.name}: delay longer than the provider maximum is honoured without spending attempts`, async () => {
    const queue = await openQueue()
    const limit = caps.nativeDelayLimitMs
    const delayMs = limit === null ? caps.delayMs * 2 : Math.max(limit * 2 + 500, caps.delayMs)
    const attempts: number[] = []
    const patient = job('patient', {
      queue: h.queueName('longdelay'),
      handle: (_p, ctx) => void attempts.push(ctx.attempt),
    })
    const { producer, outcomes } = startWorker(queue, { jobs: [patient] })
    const sentAt = Date.now()
    const sent = await producer.enqueue(patient, { n: 1 }, { delayMs })
    await outcomes.waitFor(sent.id, 'success', wait + delayMs)
    const elapsed = Date.now() - sentAt
    assert.ok(elapsed >= delayMs - 50, `ran after ${elapsed} ms; delay was ${delayMs} ms`)
    assert.deepEqual(attempts, [1], 'waiting must not count as attempts')
  })

  test(`${h.name}: retry-after waits the backoff, then runs the next attempt`, async () => {
    const queue = await openQueue()
    const starts: { attempt: number; at: number }[] = []
    const flaky = job('flaky', {
      queue: h.queueName('retry'),
      backoff: { baseMs: caps.delayMs, maxMs: caps.delayMs },
      handle: (_p, ctx) => {
        starts.push({ attempt: ctx.attempt, at: Date.now() })
        if (ctx.attempt === 1) throw new Error('first attempt fails')
      },
    })
    // random() = 1 makes the full-jitter delay its ceiling: exactly baseMs.
    const { producer, outcomes } = startWorker(queue, { jobs: [flaky], random: () => 0.999999 })
    const sent = await producer.enqueue(flaky, { n: 1 })
    const retry = await outcomes.waitFor(sent.id, 'retry', wait)
    assert.equal(retry.retryInMs, caps.delayMs - 1)
    await outcomes.waitFor(sent.id, 'success', wait + caps.delayMs)
    assert.deepEqual(
      starts.map((s) => s.attempt),
      [1, 2],
    )
    const gap = starts[1]!.at - starts[0]!.at
    assert.ok(
      gap >= caps.delayMs - 50,
      `second attempt came ${gap} ms after the first; backoff was ${caps.delayMs}`,
    )
  })

  test(`${h.name}: an expired lease redelivers the message`, async () => {
    const queue = await openQueue()
    const name = h.queueName('lease')
    await queue.send(
      name,
      createEnvelope({ type: 'test.lease', payload: { n: 1 }, maxAttempts: 5, now: Date.now() }),
    )
    const first = await nextDelivery(queue, name, caps.leaseMs)
    const second = await nextDelivery(queue, name, caps.leaseMs)
    assert.equal(second.id, first.id)
    assert.equal(first.attempt, 1)
    assert.equal(second.attempt, 2)
    await second.ack()
  })

  test(`${h.name}: a delivery waiting in the buffer past its lease is handed out only with a live lease`, async () => {
    const queue = await openQueue()
    const name = h.queueName('buffered')
    const readable = deferred()
    const consumer = queue.consume(name, {
      prefetch: 1,
      leaseMs: caps.leaseMs,
      onReadable: () => readable.resolve(),
    })
    cleanups.push(() => consumer.close())
    const sent = createEnvelope({ type: 'test.buffered', payload: { n: 1 }, maxAttempts: 5, now: Date.now() })
    await queue.send(name, sent)
    await readable.promise
    // Nobody takes it for one and a half leases: the time itself is what this case is about.
    await new Promise((resolve) => setTimeout(resolve, caps.leaseMs * 1.5))
    const delivery = await eventually(() => consumer.take(1)[0], 'the delivery', { timeoutMs: wait })
    assert.equal(delivery.id, sent.id)
    assert.ok(
      delivery.leaseExpiresAt > Date.now(),
      `handed out ${Date.now() - delivery.leaseExpiresAt} ms after its lease ran out`,
    )
    assert.equal(delivery.attempt, 1, 'waiting in a buffer is not an attempt')
    await delivery.ack() // the lease really is ours: the ack is not refused as stale
  })

  test(`${h.name}: with a backlog beyond the prefetch and jobs longer than a lease, every job runs once and is never received again after its ack`, async () => {
    const queue = await openQueue()
    const name = h.queueName('backlog')
    const runs = new Map<number, number>()
    const slow = job('backlog', {
      queue: name,
      timeoutMs: caps.leaseMs * 4,
      handle: async ({ n }) => {
        runs.set(n, (runs.get(n) ?? 0) + 1)
        // Longer than a lease, so the jobs waiting in the buffer meanwhile must keep theirs.
        await new Promise((resolve) => setTimeout(resolve, caps.leaseMs * 1.2))
      },
    })
    const { producer, outcomes } = startWorker(queue, {
      jobs: [slow],
      concurrency: 2,
      prefetch: 2,
      leaseMs: caps.leaseMs,
    })
    const sent = await Promise.all([1, 2, 3, 4].map((n) => producer.enqueue(slow, { n })))
    for (const s of sent) await outcomes.waitFor(s.id, 'success', wait + caps.leaseMs * 4)
    // A late copy of a finished job would start a run of its own: give one a lease to show up.
    await new Promise((resolve) => setTimeout(resolve, caps.leaseMs))
    assert.deepEqual(
      [...runs.entries()].sort(),
      [
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 1],
      ],
      'runs per job',
    )
    for (const s of sent) assert.deepEqual(outcomes.of(s.id), ['success'], `outcomes of ${s.id}`)
  })

  test(`${h.name}: a delivery released unrun keeps its attempt number`, async () => {
    const queue = await openQueue()
    const name = h.queueName('release')
    await queue.send(
      name,
      createEnvelope({ type: 'test.release', payload: { n: 1 }, maxAttempts: 5, now: Date.now() }),
    )
    const first = await nextDelivery(queue, name, 30_000)
    await first.release()
    const again = await nextDelivery(queue, name, 30_000)
    assert.equal(again.id, first.id)
    assert.equal(again.attempt, 1)
    await again.ack()
  })

  test(`${h.name}: when lease extensions fail, the handler is aborted with LeaseLostError before the message can run again, and nothing is acked`, async () => {
    const queue = withFailingExtensions(await openQueue())
    const name = h.queueName('fenced')
    const aborts: { reason: unknown; at: number }[] = []
    const runs: number[] = []
    let secondRunAt: number | undefined
    const fenced = job('fenced', {
      queue: name,
      timeoutMs: caps.leaseMs * 4,
      handle: async (_p, { signal, attempt }) => {
        runs.push(attempt)
        if (runs.length > 1) {
          secondRunAt ??= Date.now()
          return // the redelivery finishes at once
        }
        await new Promise((_resolve, reject) => {
          signal.addEventListener(
            'abort',
            () => {
              aborts.push({ reason: signal.reason, at: Date.now() })
              reject(signal.reason)
            },
            { once: true },
          )
        })
      },
    })
    const { producer, outcomes, worker } = startWorker(queue, { jobs: [fenced], leaseMs: caps.leaseMs })
    const sent = await producer.enqueue(fenced, { n: 1 })
    await outcomes.waitFor(sent.id, 'lease_lost', wait + caps.leaseMs * 2)
    assert.equal(aborts.length, 1)
    assert.ok(aborts[0]!.reason instanceof LeaseLostError, `aborted with ${String(aborts[0]!.reason)}`)
    const lost = (await worker.metrics.leaseLost.get()).values.reduce((n, v) => n + v.value, 0)
    assert.equal(lost, 1)
    // Nothing acked or retried it: it comes back when the lease runs out, as the next attempt.
    const done = await outcomes.waitFor(sent.id, 'success', wait + caps.leaseMs * 2)
    assert.equal(done.attempt, 2)
    assert.deepEqual(runs, [1, 2])
    // The fence is timed to fire before the lease ends (a sixth of it early); what must hold even on a
    // loaded machine, whose timers run late, is that the fenced run ended before the redelivery began.
    assert.ok(aborts[0]!.at <= secondRunAt!, 'the fenced run was aborted before the message ran again')
    assert.deepEqual(outcomes.of(sent.id).slice(0, 1), ['lease_lost'])
    assert.ok(!outcomes.of(sent.id).includes('retry'), 'the fenced run settled nothing')
  })

  test(`${h.name}: a stalled broker makes send reject within its deadline`, {
    skip: !h.throughProxy && 'no network between this backend and its callers',
  }, async () => {
    const proxy = await startOutageProxy(h.throughProxy!.port())
    cleanups.push(() => proxy.stop())
    const deadlineMs = 1_000
    const queue = await h.throughProxy!.createQueue(proxy.endpoint, deadlineMs)
    cleanups.push(async () => {
      await proxy.restore()
      await queue.close()
    })
    const name = h.queueName('stall')
    const env = () => createEnvelope({ type: 'test.stall', payload: {}, maxAttempts: 5, now: Date.now() })
    await queue.send(name, env()) // reachable: resources known, connections open
    await proxy.stall()
    const startedAt = Date.now()
    await assert.rejects(queue.send(name, env()), QueueUnavailableError)
    const tookMs = Date.now() - startedAt
    assert.ok(
      tookMs < deadlineMs + 2_000,
      `send rejected after ${tookMs} ms; its deadline is ${deadlineMs} ms`,
    )
  })

  test(`${h.name}: lease extension keeps a long job from being redelivered`, async () => {
    const queue = await openQueue()
    let starts = 0
    const long = job('long', {
      queue: h.queueName('longjob'),
      timeoutMs: caps.leaseMs * 4,
      handle: async (_p, { signal }) => {
        starts++
        // The job's own work: it runs for 2.5 leases.
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, caps.leaseMs * 2.5)
          signal.addEventListener('abort', () => reject(signal.reason), { once: true })
          signal.addEventListener('abort', () => clearTimeout(t), { once: true })
        })
      },
    })
    const { producer, outcomes } = startWorker(queue, { jobs: [long], leaseMs: caps.leaseMs })
    const sent = await producer.enqueue(long, { n: 1 })
    await outcomes.waitFor(sent.id, 'success', wait + caps.leaseMs * 4)
    assert.equal(starts, 1, 'the job must run once')
    assert.deepEqual(outcomes.of(sent.id), ['success'])
  })

  test(`${h.name}: attempts are counted across retries`, async () => {
    const queue = await openQueue()
    const attempts: number[] = []
    const twiceBroken = job('twice', {
      queue: h.queueName('attempts'),
      handle: (_p, ctx) => {
        attempts.push(ctx.attempt)
        if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} fails`)
      },
    })
    const { producer, outcomes } = startWorker(queue, { jobs: [twiceBroken] })
    const sent = await producer.enqueue(twiceBroken, { n: 1 })
    await outcomes.waitFor(sent.id, 'success', wait)
    assert.deepEqual(attempts, [1, 2, 3])
    assert.deepEqual(outcomes.of(sent.id), ['retry', 'retry', 'success'])
  })

  test(`${h.name}: max attempts sends the message to the dead-letter queue with its last error`, async () => {
    const queue = await openQueue()
    const name = h.queueName('maxattempts')
    const doomed = job('doomed', {
      queue: name,
      maxAttempts: 3,
      handle: (_p, ctx) => {
        throw new Error(`boom on attempt ${ctx.attempt}`)
      },
    })
    const { producer, outcomes } = startWorker(queue, { jobs: [doomed] })
    const sent = await producer.enqueue(doomed, { n: 7 })
    const dead = await outcomes.waitFor(sent.id, 'dead_letter', wait)
    assert.equal(dead.deadLetterCode, 'max_attempts')
    assert.equal(dead.attempt, 3)
    const letters = await eventually(async () => {
      const l = await queue.peekDeadLetters(name)
      return l.length > 0 && l
    }, 'the dead letter to be readable')
    assert.equal(letters.length, 1)
    const [letter] = letters
    assert.equal(letter!.id, sent.id)
    assert.deepEqual(letter!.envelope?.payload, { n: 7 })
    assert.equal(letter!.info.code, 'max_attempts')
    assert.equal(letter!.info.queue, name)
    assert.equal(letter!.info.attempts, 3)
    assert.equal(letter!.info.error?.message, 'boom on attempt 3')
  })

  test(`${h.name}: redrive moves dead letters back with fresh attempts`, async () => {
    const queue = await openQueue()
    const name = h.queueName('redrive')
    let healthy = false
    const attempts: number[] = []
    const sometimes = job('sometimes', {
      queue: name,
      maxAttempts: 1,
      handle: (_p, ctx) => {
        attempts.push(ctx.attempt)
        if (!healthy) throw new NonRetryableError('downstream is down')
      },
    })
    const { producer, outcomes } = startWorker(queue, { jobs: [sometimes] })
    const sent = await producer.enqueue(sometimes, { n: 1 })
    const dead = await outcomes.waitFor(sent.id, 'dead_letter', wait)
    assert.equal(dead.deadLetterCode, 'non_retryable')
    await eventually(async () => (await queue.peekDeadLetters(name)).length === 1, 'one dead letter')
    healthy = true
    assert.equal(await queue.redrive(name), 1)
    await outcomes.waitFor(sent.id, 'success', wait)
    assert.deepEqual(attempts, [1, 1])
    await eventually(
      async () => (await queue.peekDeadLetters(name)).length === 0,
      'the dead-letter queue to empty',
    )
  })

  test(`${h.name}: poison messages go to the dead-letter queue with their reason`, async () => {
    const queue = await openQueue()
    const name = h.queueName('poison')
    let ran = 0
    const strict = job('strict', { queue: name, handle: () => void ran++ })
    const { outcomes } = startWorker(queue, { jobs: [strict] })
    const unknown = createEnvelope({ type: 'test.nobody', payload: {}, maxAttempts: 5, now: Date.now() })
    const invalid = createEnvelope({
      type: 'test.strict',
      payload: { n: 'not a number' },
      maxAttempts: 5,
      now: Date.now(),
    })
    await queue.send(name, unknown)
    await queue.send(name, invalid)
    assert.equal((await outcomes.waitFor(unknown.id, 'dead_letter', wait)).deadLetterCode, 'unknown_type')
    assert.equal((await outcomes.waitFor(invalid.id, 'dead_letter', wait)).deadLetterCode, 'invalid_payload')
    const codes = ['unknown_type', 'invalid_payload']
    if (canSendRaw(queue)) {
      await queue.sendRaw(name, '{"this is": not json')
      await outcomes.waitUntil(
        (e) => e.deadLetterCode === 'malformed',
        'the malformed body to be dead-lettered',
        wait,
      )
      codes.push('malformed')
    }
    const letters = await eventually(async () => {
      const l = await queue.peekDeadLetters(name)
      return l.length === codes.length && l
    }, `${codes.length} dead letters`)
    assert.deepEqual(letters.map((l) => l.info.code).sort(), [...codes].sort())
    const invalidLetter = letters.find((l) => l.info.code === 'invalid_payload')!
    assert.match(invalidLetter.info.message, /n must be an integer/)
    assert.equal(ran, 0)
  })

  test(`${h.name}: the concurrency limit is respected`, async () => {
    const queue = await openQueue()
    let running = 0
    let peak = 0
    const gate = deferred()
    const arrived: number[] = []
    const fourAtATime = deferred()
    const slow = job('slow', {
      queue: h.queueName('concurrency'),
      handle: async ({ n }) => {
        running++
        peak = Math.max(peak, running)
        arrived.push(n)
        if (arrived.length === 4) fourAtATime.resolve()
        await gate.promise
        running--
      },
    })
    const { producer, outcomes } = startWorker(queue, { jobs: [slow], concurrency: 4 })
    const sent = await producer.enqueueMany(
      slow,
      Array.from({ length: 20 }, (_, n) => ({ n })),
    )
    await fourAtATime.promise
    // Let the worker try to over-take while all four slots are held.
    await new Promise((r) => setImmediate(r))
    assert.equal(running, 4)
    gate.resolve()
    await Promise.all(sent.map((e) => outcomes.waitFor(e.id, 'success', wait)))
    assert.equal(peak, 4)
  })

  test(`${h.name}: weighted queues share one concurrency in proportion`, async () => {
    const queue = await openQueue()
    const names = {
      critical: h.queueName('critical'),
      normal: h.queueName('normal'),
      low: h.queueName('low'),
    }
    const order: string[] = []
    // Each job does 5 ms of work, as real jobs do: remote consumers refill their buffers meanwhile.
    // (With instant jobs, a remote queue's buffer drains faster than a receive round trip refills it,
    // and the worker, which never idles while any queue has work on hand, serves the others.)
    const jobs = Object.entries(names).map(([label, name]) =>
      job(`w-${label}`, {
        queue: name,
        handle: async () => {
          order.push(label)
          await new Promise((resolve) => setTimeout(resolve, 5))
        },
      }),
    )
    const producer = new Producer({ queue })
    const per = 60
    for (const j of jobs)
      await producer.enqueueMany(
        j,
        Array.from({ length: per }, (_, n) => ({ n })),
      )
    // Let every backend have messages ready on all three queues before the worker starts.
    await eventually(async () => {
      const s = await Promise.all(Object.values(names).map((n) => queue.stats(n)))
      return !caps.reportsStats || s.every((x) => (x.ready ?? 0) >= per)
    }, 'all queues to report their messages')
    const { outcomes } = startWorker(queue, {
      jobs,
      concurrency: 1,
      prefetch: 10,
      weights: { [names.critical]: 6, [names.normal]: 3, [names.low]: 1 },
    })
    await outcomes.waitUntil(() => order.length >= 50, '50 jobs', wait)
    const first = order.slice(10, 50) // after every consumer has had time to fill its buffer
    const count = (label: string) => first.filter((l) => l === label).length
    assert.ok(
      count('critical') > count('normal'),
      `critical ${count('critical')} vs normal ${count('normal')}`,
    )
    assert.ok(count('normal') > count('low'), `normal ${count('normal')} vs low ${count('low')}`)
    assert.ok(count('low') >= 1, 'low must not starve')
  })

  test(`${h.name}: graceful stop hands unfinished work back for redelivery`, async () => {
    const queue = await openQueue()
    const name = h.queueName('drain')
    const started = deferred()
    const aborted = deferred<unknown>()
    const stubborn = job('stubborn', {
      queue: name,
      timeoutMs: 60_000,
      handle: async (_p, { signal }) => {
        started.resolve()
        await new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted.resolve(signal.reason)
            reject(signal.reason)
          })
        })
      },
    })
    const first = new Worker({ queue, jobs: [stubborn], logger: testLogger, leaseMs: 30_000 })
    const firstOutcomes = new JobOutcomes(first)
    first.start()
    const sent = await new Producer({ queue }).enqueue(stubborn, { n: 1 })
    await started.promise
    await first.stop(50)
    assert.equal(((await aborted.promise) as Error).name, 'WorkerStoppingError')
    assert.deepEqual(firstOutcomes.of(sent.id), ['released'])
    // A second worker gets the message long before the 30 s lease would have run out.
    const done = job('stubborn', { queue: name, handle: () => {} })
    const { outcomes } = startWorker(queue, { jobs: [done] })
    const event = await outcomes.waitFor(sent.id, 'success', wait)
    assert.equal(event.attempt, 2)
  })

  test(`${h.name}: stats reflect ready, in-flight, delayed and dead-lettered messages`, {
    skip: !caps.reportsStats && 'this backend reports no depth through its data-plane API',
  }, async () => {
    const queue = await openQueue()
    const name = h.queueName('stats')
    const env = (n: number) =>
      createEnvelope({ type: 'test.stats', payload: { n }, maxAttempts: 5, now: Date.now() })
    await queue.sendBatch(name, [env(1), env(2), env(3)])
    await queue.send(name, env(4), { delayMs: 60_000 })
    await eventually(
      async () => {
        const s = await queue.stats(name)
        return s.ready === 3 && s.delayed === 1 && s.inFlight === 0 && s.deadLettered === 0
      },
      'stats { ready 3, delayed 1 }',
      { timeoutMs: wait },
    )
    const taken = await nextDelivery(queue, name, 30_000)
    await eventually(
      async () => {
        const s = await queue.stats(name)
        return s.ready === 2 && s.inFlight === 1
      },
      'stats { ready 2, inFlight 1 }',
      { timeoutMs: wait },
    )
    await taken.deadLetter({ code: 'non_retryable', message: 'for the stats test' })
    await eventually(
      async () => {
        const s = await queue.stats(name)
        return s.ready === 2 && s.inFlight === 0 && s.deadLettered === 1
      },
      'stats { ready 2, inFlight 0, deadLettered 1 }',
      { timeoutMs: wait },
    )
  })

  test(`${h.name}: 1000 messages with random failures: none lost, none run after success`, async () => {
    const queue = await openQueue()
    const random = seededRandom(1234)
    const successes = new Map<number, number>()
    let failures = 0
    let calls = 0
    const chaotic = job('chaos', {
      queue: h.queueName('chaos'),
      maxAttempts: 20,
      backoff: { baseMs: 1, maxMs: 20 },
      handle: ({ n }) => {
        calls++
        if (random() < 0.2) {
          failures++
          throw new Error('random failure')
        }
        successes.set(n, (successes.get(n) ?? 0) + 1)
      },
    })
    const { producer, outcomes } = startWorker(queue, { jobs: [chaotic], concurrency: 32 })
    const payloads = Array.from({ length: 1000 }, (_, n) => ({ n }))
    const sent = []
    for (let i = 0; i < payloads.length; i += 100)
      sent.push(...(await producer.enqueueMany(chaotic, payloads.slice(i, i + 100))))
    await Promise.all(sent.map((e) => outcomes.waitFor(e.id, 'success', wait * 3)))
    assert.equal(successes.size, 1000, 'every message succeeded')
    assert.ok(
      [...successes.values()].every((c) => c === 1),
      'no message ran again after succeeding',
    )
    assert.ok(failures > 100, `random failures happened (${failures})`)
    assert.equal(calls, 1000 + failures)
    assert.equal(outcomes.events.filter((e) => e.outcome === 'dead_letter').length, 0)
  })
}
