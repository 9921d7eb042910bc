// What a user is told for S3 errors they can fix by configuration, as a table.

import { describe, expect, it } from 'vitest';
import { s3Advice } from '../../src/store/s3-advice.js';

describe('s3Advice', () => {
  const local = { bucket: 'backups', endpoint: 'http://localhost:9000' };
  const aws = { bucket: 'backups', profile: 'prod' };
  it.each([
    [
      'CredentialsProviderError',
      aws,
      [
        'no AWS credentials found for the profile prod',
        'in [prod] of ~/.aws/credentials',
        'with the profile prod chosen (--aws-profile / AWS_PROFILE), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not used',
      ],
    ],
    [
      'CredentialsProviderError',
      local,
      ['no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put', 'in a profile (AWS_PROFILE or --aws-profile) in ~/.aws/credentials'],
    ],
    ['NoSuchBucket', local, ['the bucket backups does not exist at http://localhost:9000', 'aws s3 mb s3://backups --endpoint-url http://localhost:9000']],
    ['InvalidAccessKeyId', aws, ['does not know the access key ID', 'AWS_ACCESS_KEY_ID', 'the profile prod']],
    ['SignatureDoesNotMatch', local, ['secret access key does not match', 'AWS_SECRET_ACCESS_KEY']],
    ['AccessDenied', aws, ['access denied to the bucket backups', 's3:PutObject']],
  ] as const)('%s (%j)', (name, context, parts) => {
    const advice = s3Advice(name, context);
    for (const part of parts) expect(advice).toContain(part);
  });

  it('a bucket on AWS is created without --endpoint-url', () => {
    expect(s3Advice('NoSuchBucket', aws)).toBe('the bucket backups does not exist; create it with: aws s3 mb s3://backups');
  });

  it.each(['SlowDown', 'InternalError', 'NoSuchKey', undefined])('has nothing to say about %j', (name) => {
    expect(s3Advice(name, local)).toBeUndefined();
  });
});
