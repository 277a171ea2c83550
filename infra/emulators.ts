// `npm run emulators`: SQS + S3 (fauxqs) and SES (aws-ses-v2-local) on loopback for local development.
// Prints the environment to use; Ctrl-C stops them. State lives in memory and is gone when they stop.
import type { AddressInfo } from 'node:net'

const host = '127.0.0.1'
const sqsPort = Number(process.env.FAUXQS_PORT ?? 4566)
const sesPort = Number(process.env.SES_PORT ?? 8005)

const { buildApp } = await import('fauxqs')
const fauxqs = buildApp({ logger: false, defaultRegion: process.env.AWS_REGION ?? 'us-east-1' })
await fauxqs.listen({ host, port: sqsPort })
const sesLocal = await import('aws-ses-v2-local')
const startSes = ((sesLocal.default as { default?: unknown }).default ??
  sesLocal.default) as unknown as typeof sesLocal.default.default
const ses = await startSes({ host, port: sesPort })

const sqsUrl = `http://${host}:${(fauxqs.server.address() as AddressInfo).port}`
const sesUrl = `http://${host}:${sesPort}`
console.log(`Emulators running. Use:

export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
export QUEUE_DRIVER=sqs AWS_ENDPOINT_URL_SQS=${sqsUrl} SQS_WAIT_TIME_SECONDS=5
export STORAGE_DRIVER=s3 S3_BUCKET=conveyor-local AWS_ENDPOINT_URL_S3=${sqsUrl}
export MAIL_DRIVER=ses AWS_ENDPOINT_URL_SES=${sesUrl}
npm run provision && npm start

Sent mail: ${sesUrl}/ (web view), ${sesUrl}/store (JSON). Ctrl-C stops the emulators.`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    await fauxqs.close()
    ses.closeAllConnections()
    ses.close()
  })
}
