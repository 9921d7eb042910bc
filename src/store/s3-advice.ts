// What to tell a user whose S3 request failed for a reason they can fix: no credentials, wrong credentials, no bucket. Pure.

/** Where the request went, for the advice. */
export interface AdviceContext {
  bucket: string;
  /** The custom endpoint, when one is used (the `aws` command needs it too). */
  endpoint?: string;
  /** The AWS profile chosen with --aws-profile or AWS_PROFILE, if any. */
  profile?: string;
}

/**
 * Where credentials are looked for, as a user sets them. With a profile chosen the SDK takes its
 * credentials from the profile and not from AWS_ACCESS_KEY_ID (as the AWS CLI does).
 */
function credentialSources(context: AdviceContext): string {
  if (context.profile) {
    return (
      `put aws_access_key_id and aws_secret_access_key in [${context.profile}] of ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE), ` +
      `or other credential settings in [profile ${context.profile}] of ~/.aws/config; with the profile ${context.profile} chosen (--aws-profile / AWS_PROFILE), ` +
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not used'
    );
  }
  return 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put aws_access_key_id and aws_secret_access_key in a profile (AWS_PROFILE or --aws-profile) in ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE)';
}

/**
 * Advice for an S3 error, by the error's name (the SDK's CredentialsProviderError, or the
 * store's error code); undefined when the error is nothing a user fixes by configuration.
 */
export function s3Advice(errorName: string | undefined, context: AdviceContext, message = ''): string | undefined {
  const endpoint = context.endpoint ? ` --endpoint-url ${context.endpoint}` : '';
  switch (errorName) {
    case 'CredentialsProviderError':
      return `no AWS credentials found${context.profile ? ` for the profile ${context.profile}` : ''}: ${credentialSources(context)}`;
    case 'NoSuchBucket':
      return `the bucket ${context.bucket} does not exist${context.endpoint ? ` at ${context.endpoint}` : ''}; create it with: aws s3 mb s3://${context.bucket}${endpoint}`;
    case 'InvalidAccessKeyId':
      // Ceph RGW answers InvalidAccessKeyId when an SSE-KMS key is missing ("Failed to retrieve the actual key, kms-keyid: …"): not the credentials.
      if (/kms/i.test(message)) return undefined;
      return `the store does not know the access key ID: check AWS_ACCESS_KEY_ID, or aws_access_key_id in ${context.profile ? `the profile ${context.profile}` : 'the selected profile'}, and that the key belongs to this store${context.endpoint ? ` (${context.endpoint})` : ''}`;
    case 'SignatureDoesNotMatch':
      return `the secret access key does not match the access key ID: check AWS_SECRET_ACCESS_KEY, or aws_secret_access_key in ${context.profile ? `the profile ${context.profile}` : 'the selected profile'}`;
    case 'AccessDenied':
      return `access denied to the bucket ${context.bucket}: the credentials are valid but may not do this; check the bucket policy and the user's permissions (s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject), or use other credentials (${credentialSources(context)})`;
    default:
      return undefined;
  }
}
