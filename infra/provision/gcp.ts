import type { BucketMetadata, Storage } from '@google-cloud/storage'
import type { LifecycleRule } from '../resources.ts'
import { describeRule } from './aws.ts'
import type { ProvisionReport } from './report.ts'

/**
 * The Cloud Storage bucket, as infra/gcp/storage.tf declares it: uniform access, public access
 * prevented, the lifecycle rules (re)applied each run. Google encrypts at rest by default.
 */
export async function provisionGcsBucket(
  storage: Storage,
  name: string,
  location: string,
  rules: LifecycleRule[],
  report: ProvisionReport,
): Promise<void> {
  const metadata: BucketMetadata = {
    iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
    lifecycle: {
      rule: rules.map((r) =>
        r.abortIncompleteMultipartDays
          ? {
              action: { type: 'AbortIncompleteMultipartUpload' as const },
              condition: { age: r.abortIncompleteMultipartDays },
            }
          : { action: { type: 'Delete' as const }, condition: { age: r.days!, matchesPrefix: [r.prefix!] } },
      ),
    },
  }
  const bucket = storage.bucket(name)
  try {
    const [exists] = await bucket.exists()
    if (exists) {
      await bucket.setMetadata(metadata)
      report.ok(`gcs bucket ${name}: exists`)
    } else {
      await storage.createBucket(name, { location, ...metadata } as Parameters<Storage['createBucket']>[1])
      report.ok(`gcs bucket ${name}: created in ${location}`)
    }
    report.ok(`  lifecycle: ${rules.map(describeRule).join('; ')}`)
    report.ok('  public access: prevented; uniform bucket-level access')
  } catch (err) {
    report.next(
      `could not create or update the GCS bucket ${name} (${oneLine((err as Error).message)}): apply infra/gcp (terraform apply), or give the provisioning identity roles/storage.admin and run again`,
    )
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}
