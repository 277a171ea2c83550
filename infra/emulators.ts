// `npm run emulators` (AWS-shaped: SQS + S3 in fauxqs, SES in aws-ses-v2-local) or
// `npm run emulators -- gcp` (GCP-shaped: Google's Pub/Sub emulator, the Cloud Storage emulator of
// firebase-tools, and an SMTP relay that prints what it receives), on loopback, for local development.
// Prints the environment to use; Ctrl-C stops them. State lives in memory and is gone when they stop.
import type { AddressInfo } from 'node:net'

const host = '127.0.0.1'
const mode = process.argv[2] ?? 'aws'
const stops: (() => Promise<unknown>)[] = []

if (mode === 'gcp') {
  const { startPubSubEmulator } = await import('../test/support/pubsub-emulator.ts')
  const { startGcsEmulator } = await import('../test/support/gcs-emulator.ts')
  const { startSmtpServer } = await import('../test/support/smtp.ts')
  const pubsub = await startPubSubEmulator()
  const gcs = await startGcsEmulator()
  const smtp = await startSmtpServer()
  stops.push(pubsub.stop, gcs.stop, smtp.stop)
  let shown = 0
  setInterval(() => {
    for (const mail of smtp.received.slice(shown))
      console.log(`mail to ${mail.envelopeTo.join(', ')}: ${mail.subject}\n${mail.text}`)
    shown = smtp.received.length
  }, 500).unref()
  console.log(`Emulators running. Use:

export METADATA_SERVER_DETECTION=none GOOGLE_CLOUD_PROJECT=demo-conveyor
export QUEUE_DRIVER=pubsub PUBSUB_EMULATOR_HOST=${pubsub.host}
export STORAGE_DRIVER=gcs GCS_BUCKET=conveyor-local STORAGE_EMULATOR_HOST=${gcs.host} GCS_SIGNED_URLS=false
export MAIL_DRIVER=smtp SMTP_URL='${smtp.url}'
npm run provision && npm start

(The Cloud Storage emulator makes a bucket with its first object: provision reports that it could not
create one, which is expected here. GCS_SIGNED_URLS=false: with no key to sign with, the API streams
downloads itself.) Mail is printed here.`)
} else {
  const sqsPort = Number(process.env.FAUXQS_PORT ?? 4566)
  const sesPort = Number(process.env.SES_PORT ?? 8005)
  const { buildApp } = await import('fauxqs')
  const fauxqs = buildApp({ logger: false, defaultRegion: process.env.AWS_REGION ?? 'us-east-1' })
  await fauxqs.listen({ host, port: sqsPort })
  const sesLocal = await import('aws-ses-v2-local')
  const startSes = ((sesLocal.default as { default?: unknown }).default ??
    sesLocal.default) as unknown as typeof sesLocal.default.default
  const ses = await startSes({ host, port: sesPort })
  stops.push(
    () => fauxqs.close(),
    async () => {
      ses.closeAllConnections()
      ses.close()
    },
  )
  const sqsUrl = `http://${host}:${(fauxqs.server.address() as AddressInfo).port}`
  const sesUrl = `http://${host}:${sesPort}`
  console.log(`Emulators running. Use:

export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
export QUEUE_DRIVER=sqs AWS_ENDPOINT_URL_SQS=${sqsUrl} SQS_WAIT_TIME_SECONDS=5
export STORAGE_DRIVER=s3 S3_BUCKET=conveyor-local AWS_ENDPOINT_URL_S3=${sqsUrl}
export MAIL_DRIVER=ses AWS_ENDPOINT_URL_SES=${sesUrl}
npm run provision && npm start

Sent mail: ${sesUrl}/ (web view), ${sesUrl}/store (JSON). Ctrl-C stops the emulators.
(aws-ses-v2-local implements sending only: provision's SES identity check times out and says so.)`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    for (const stop of stops) await stop()
    process.exit(0)
  })
}
