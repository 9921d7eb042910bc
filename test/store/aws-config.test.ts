// The AWS shared config as Cassette reads it: the ini parser, the endpoint precedence and the addressing style, as tables.

import { describe, expect, it } from 'vitest';
import { parseAwsIni, pathStyleFor, s3SettingsFrom, selectedProfile, type AwsConfigSources } from '../../src/store/aws-config.js';
import { isCassetteError } from '../../src/errors.js';

describe('parseAwsIni', () => {
  it.each([
    ['a default profile', '[default]\nregion = eu-west-1\n', { default: { region: 'eu-west-1' } }],
    ['a named profile, spaces normalised', '[profile   dev]\nendpoint_url=http://localhost:9000\n', { 'profile dev': { endpoint_url: 'http://localhost:9000' } }],
    ['comments with # and ;, whole-line and trailing', '# top\n[default] \n; note\nregion = us-east-1 # trailing\nx = a#b\n', { default: { region: 'us-east-1', x: 'a#b' } }],
    [
      'a nested s3 block',
      '[default]\ns3 =\n  addressing_style = path\n  max_concurrent_requests = 4\nregion = x\n',
      { default: { 's3.addressing_style': 'path', 's3.max_concurrent_requests': '4', region: 'x' } },
    ],
    [
      'a services section with its nested s3 block',
      '[services local]\ns3 =\n    endpoint_url = http://localhost:4566\n',
      { 'services local': { 's3.endpoint_url': 'http://localhost:4566' } },
    ],
    ['CRLF line ends', '[default]\r\nregion = r\r\n', { default: { region: 'r' } }],
    ['lines before any section and lines without = are ignored', 'stray = 1\n[default]\njunk\n= empty key\n', { default: {} }],
    ['a value containing =', '[default]\nendpoint_url = http://h/?a=b\n', { default: { endpoint_url: 'http://h/?a=b' } }],
  ])('%s', (_name, text, expected) => {
    expect(parseAwsIni(text)).toEqual(expected);
  });
});

const CONFIG = '/home/u/.aws/config';

function sources(config: string, options: Partial<Omit<AwsConfigSources, 'config' | 'credentials'>> & { credentials?: string } = {}): AwsConfigSources {
  return {
    env: options.env ?? {},
    profile: options.profile ?? 'default',
    config: parseAwsIni(config),
    configFile: CONFIG,
    credentials: parseAwsIni(options.credentials ?? ''),
  };
}

const SERVICES = '[services local]\ns3 =\n  endpoint_url = http://services:1\n';

describe('s3SettingsFrom', () => {
  it.each([
    ['nothing configured', sources(''), {}],
    [
      'the profile endpoint_url',
      sources('[default]\nendpoint_url = http://localhost:9000\n'),
      { endpoint: 'http://localhost:9000', endpointSource: `endpoint_url in [default] in ${CONFIG}` },
    ],
    [
      'the services section beats the profile endpoint_url',
      sources(`[default]\nservices = local\nendpoint_url = http://profile:2\n${SERVICES}`),
      { endpoint: 'http://services:1', endpointSource: `the s3 block of [services local] in ${CONFIG}` },
    ],
    [
      'a services section without an s3 endpoint falls back to the profile endpoint_url',
      sources('[default]\nservices = local\nendpoint_url = http://profile:2\n[services local]\nsqs =\n  endpoint_url = http://sqs:3\n'),
      { endpoint: 'http://profile:2', endpointSource: `endpoint_url in [default] in ${CONFIG}` },
    ],
    [
      'AWS_ENDPOINT_URL beats the services section',
      sources(`[default]\nservices = local\n${SERVICES}`, { env: { AWS_ENDPOINT_URL: 'http://env:4' } }),
      { endpoint: 'http://env:4', endpointSource: 'AWS_ENDPOINT_URL' },
    ],
    [
      'AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL',
      sources('', { env: { AWS_ENDPOINT_URL: 'http://env:4', AWS_ENDPOINT_URL_S3: 'http://env-s3:5' } }),
      { endpoint: 'http://env-s3:5', endpointSource: 'AWS_ENDPOINT_URL_S3' },
    ],
    [
      'an empty AWS_ENDPOINT_URL_S3 is unset',
      sources('', { env: { AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: 'http://env:4' } }),
      { endpoint: 'http://env:4', endpointSource: 'AWS_ENDPOINT_URL' },
    ],
    [
      'the selected profile, not the default',
      sources('[default]\nendpoint_url = http://default:1\n[profile dev]\nendpoint_url = http://dev:2\n', { profile: 'dev' }),
      { endpoint: 'http://dev:2', endpointSource: `endpoint_url in [profile dev] in ${CONFIG}` },
    ],
    [
      'a profile named only in the credentials file',
      sources('', { profile: 'ci', credentials: '[ci]\nendpoint_url = http://cred:3\n' }),
      { endpoint: 'http://cred:3', endpointSource: `endpoint_url in [profile ci] in ${CONFIG}` },
    ],
    [
      'the addressing style of the s3 block',
      sources('[default]\ns3 =\n  addressing_style = Virtual\n'),
      { addressingStyle: 'virtual', addressingStyleSource: `addressing_style in [default] in ${CONFIG}` },
    ],
    [
      'ignore_configured_endpoint_urls in the profile ignores env and files alike',
      sources('[default]\nignore_configured_endpoint_urls = true\nendpoint_url = http://profile:2\n', { env: { AWS_ENDPOINT_URL: 'http://env:4' } }),
      {},
    ],
    [
      'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true ignores them',
      sources('[default]\nendpoint_url = http://profile:2\n', { env: { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'TRUE' } }),
      {},
    ],
  ])('%s', (_name, given, expected) => {
    expect(s3SettingsFrom(given)).toEqual(expected);
  });

  it.each([
    ['a services name without its section', sources('[default]\nservices = gone\n'), `[default] in ${CONFIG} says services = gone, and ${CONFIG} has no [services gone] section`],
    ['an unknown addressing style', sources('[profile p]\ns3 =\n  addressing_style = sideways\n', { profile: 'p' }), 'addressing_style = sideways in the s3 block of [profile p]'],
  ])('refuses %s (E_USAGE)', (_name, given, message) => {
    let caught: unknown;
    try {
      s3SettingsFrom(given);
    } catch (error) {
      caught = error;
    }
    expect(isCassetteError(caught, 'E_USAGE')).toBe(true);
    expect((caught as Error).message).toContain(message);
  });
});

describe('selectedProfile', () => {
  it.each([
    [undefined, {}, 'default'],
    [undefined, { AWS_PROFILE: 'env' }, 'env'],
    ['flag', { AWS_PROFILE: 'env' }, 'flag'],
    ['', { AWS_PROFILE: '' }, 'default'],
  ])('--aws-profile %j with %j is %s', (flag, env, expected) => {
    expect(selectedProfile(flag, env)).toBe(expected);
  });
});

describe('pathStyleFor', () => {
  it.each([
    // asked, configured, custom endpoint → forcePathStyle
    [undefined, undefined, true, true],
    [undefined, undefined, false, undefined],
    [undefined, 'auto', true, true],
    [undefined, 'auto', false, undefined],
    [undefined, 'path', false, true],
    [undefined, 'virtual', true, false],
    ['path', 'virtual', true, true],
    ['virtual', 'path', true, false],
    ['virtual', undefined, false, false],
  ] as const)('asked %j, configured %j, custom endpoint %j: %j', (asked, configured, custom, expected) => {
    expect(pathStyleFor(asked, configured, custom)).toBe(expected);
  });
});
