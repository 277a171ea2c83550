import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import {
  GetIdentityVerificationAttributesCommand,
  type SESClient,
  VerifyEmailIdentityCommand,
} from '@aws-sdk/client-ses'
import type { LifecycleRule } from '../resources.ts'
import type { ProvisionReport } from './report.ts'

/**
 * The bucket, as infra/aws/conveyor.yaml declares it: created in `region` (a LocationConstraint outside
 * us-east-1, where S3 refuses one), then its lifecycle rules, default encryption and public-access
 * block are (re)applied, so a bucket made by an older version is brought up to date too.
 */
export async function provisionS3Bucket(
  s3: S3Client,
  bucket: string,
  region: string | undefined,
  rules: LifecycleRule[],
  report: ProvisionReport,
): Promise<void> {
  if (await bucketExists(s3, bucket)) {
    report.ok(`s3 bucket ${bucket}: exists`)
  } else {
    try {
      await s3.send(
        new CreateBucketCommand({
          Bucket: bucket,
          ...(region && region !== 'us-east-1'
            ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }
            : {}),
        }),
      )
      report.ok(`s3 bucket ${bucket}: created in ${region ?? 'us-east-1'}`)
    } catch (err) {
      if ((err as { name?: string }).name !== 'BucketAlreadyExists') throw err
      report.next(`S3 bucket name "${bucket}" is taken by another account: choose another S3_BUCKET`)
      return
    }
  }
  await s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: bucket,
      LifecycleConfiguration: {
        Rules: rules.map((r) =>
          r.abortIncompleteMultipartDays
            ? {
                ID: r.id,
                Status: 'Enabled',
                Filter: { Prefix: '' },
                AbortIncompleteMultipartUpload: { DaysAfterInitiation: r.abortIncompleteMultipartDays },
              }
            : { ID: r.id, Status: 'Enabled', Filter: { Prefix: r.prefix }, Expiration: { Days: r.days } },
        ),
      },
    }),
  )
  report.ok(`  lifecycle: ${rules.map(describeRule).join('; ')}`)
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: {
        Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    }),
  )
  report.ok('  default encryption: AES256')
  await s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: bucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    }),
  )
  report.ok('  public access: blocked')
}

/**
 * The SES sender: verified (the address or its domain) → nothing to do; otherwise asks SES to send the
 * verification email and says what to do next. Without it every email is MessageRejected.
 */
export async function provisionSesIdentity(
  ses: SESClient,
  from: string,
  report: ProvisionReport,
  timeoutMs = 10_000,
): Promise<void> {
  const address = (from.match(/<([^>]+)>/)?.[1] ?? from).trim()
  const domain = address.split('@')[1] ?? address
  try {
    const out = await ses.send(
      new GetIdentityVerificationAttributesCommand({ Identities: [address, domain] }),
      {
        abortSignal: AbortSignal.timeout(timeoutMs),
      },
    )
    const status = (id: string) => out.VerificationAttributes?.[id]?.VerificationStatus
    const verified = [domain, address].find((id) => status(id) === 'Success')
    if (verified) {
      report.ok(`ses identity ${verified}: verified`)
      return
    }
    if (status(address) !== 'Pending') {
      await ses.send(new VerifyEmailIdentityCommand({ EmailAddress: address }), {
        abortSignal: AbortSignal.timeout(timeoutMs),
      })
    }
    report.next(
      `SES sender ${address} is not verified yet: open the link SES has mailed to ${address} (or verify the domain ${domain} with its DKIM records in the SES console), then run \`npm run provision\` again. While the account is in the SES sandbox, recipients must be verified too: request production access.`,
    )
  } catch (err) {
    report.next(
      `could not check the SES sender ${address} (${(err as Error).name}: ${(err as Error).message}): verify it in the SES console (Verified identities) before sending mail; until then every email is rejected`,
    )
  }
}

/** HeadBucket: 404 → false (CreateBucket alone cannot tell: us-east-1 answers 200 for a bucket you own). */
async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }))
    return true
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false
    throw err
  }
}

export function describeRule(r: LifecycleRule): string {
  return r.abortIncompleteMultipartDays
    ? `${r.id}: abort incomplete uploads after ${r.abortIncompleteMultipartDays} d`
    : `${r.id}: delete ${r.prefix}* after ${r.days} d`
}
