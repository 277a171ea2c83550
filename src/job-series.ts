import type { Registry } from 'prom-client'
import type { Throughput } from './throughput.ts'

export type Outcome = 'success' | 'retry' | 'dead_letter' | 'timeout'
export const OUTCOMES: readonly Outcome[] = ['success', 'retry', 'dead_letter', 'timeout']
export const DURATION_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600] as const

/**
 * Counts for one (queue, type): outcomes and a duration histogram, as plain numbers. The worker updates
 * these on every job (a few nanoseconds); Prometheus reads them only when scraped. prom-client's own
 * per-call label hashing costs about half a microsecond per update, a sizeable share of a short job.
 */
export class JobSeries {
  readonly labels: { queue: string; type: string }
  readonly outcomes: Record<Outcome, number> = { success: 0, retry: 0, dead_letter: 0, timeout: 0 }
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1)
  sum = 0
  count = 0
  /** Jobs of this type the producer has sent to the queue. */
  enqueued = 0
  readonly #throughput: Throughput | undefined

  /** `throughput`, when given, also counts every outcome per minute (the dashboard's chart). */
  constructor(queue: string, type: string, throughput?: Throughput) {
    this.labels = { queue, type }
    this.#throughput = throughput
  }

  /** `now`: the wall clock (Date.now()) if the caller has just read it, so it is not read twice. */
  record(outcome: Outcome, seconds: number, now?: number): void {
    this.outcomes[outcome]++
    let i = 0
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++
    this.buckets[i]!++
    this.sum += seconds
    this.count++
    this.#throughput?.add(outcome, now)
  }
}

type MetricValue = { labels: Record<string, string | number>; value: number; metricName: string }

/**
 * `conveyor_job_duration_seconds` as a prom-client registry entry built from JobSeries, in the shape
 * prom-client's own Histogram reports (so exposition and OpenMetrics output are prom-client's).
 */
export function registerDurationHistogram(registry: Registry, series: () => Iterable<JobSeries>): void {
  const name = 'conveyor_job_duration_seconds'
  const metric = {
    name,
    help: 'Handler run time per attempt.',
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: MetricValue[] = []
      for (const s of series()) {
        let cumulative = 0
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += s.buckets[i]!
          values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${name}_bucket` })
        })
        values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` })
        values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` })
        values.push({ labels: { ...s.labels }, value: s.count, metricName: `${name}_count` })
      }
      return { name, help: metric.help, type: 'histogram', values, aggregator: 'sum' }
    },
    reset() {},
  }
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0])
}
