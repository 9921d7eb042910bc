// What the AWS shared config files and environment say about S3 for Cassette: the endpoint and the addressing style, with the AWS CLI's precedence. Credentials and region stay with the SDK.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CassetteError, messageOf } from '../errors.js';

/** Sections of an ini file by name (`default`, `profile dev`, `services local`), each a map of keys; a nested block's keys are `block.key` (`s3.addressing_style`). */
export type IniSections = Record<string, Record<string, string>>;

/**
 * Parses an AWS shared config or credentials file as the AWS CLI and SDKs read it: `[section]`
 * headers, `key = value` lines, comments from `#` or `;` (at the start of a line or after
 * whitespace), and nested blocks: a `key =` with no value opens a block whose indented lines
 * are stored as `key.name` (`s3 =` then `  addressing_style = path` gives `s3.addressing_style`).
 * Pure.
 */
export function parseAwsIni(text: string): IniSections {
  const sections: IniSections = {};
  let section: Record<string, string> | undefined;
  let block: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.split(/(?:^|\s)[;#]/)[0]!.trim();
    if (line === '') continue;
    if (line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1).trim().replace(/\s+/g, ' ');
      section = sections[name] ??= {};
      block = undefined;
      continue;
    }
    const equals = line.indexOf('=');
    if (section === undefined || equals <= 0) continue;
    const key = line.slice(0, equals).trim();
    const value = line.slice(equals + 1).trim();
    const indented = /^\s/.test(raw);
    if (value === '') {
      block = key;
      continue;
    }
    if (!indented) block = undefined;
    section[block === undefined ? key : `${block}.${key}`] = value;
  }
  return sections;
}

/** How bucket names go into request URLs: `endpoint/bucket/key` (path) or `bucket.endpoint/key` (virtual); auto lets the client choose. */
export type AddressingStyle = 'path' | 'virtual' | 'auto';

/** What the environment and the shared files say about S3. */
export interface S3Settings {
  /** The configured endpoint, if any. */
  endpoint?: string;
  /** Where `endpoint` came from, for messages: `AWS_ENDPOINT_URL_S3`, `[services local] in ~/.aws/config`… */
  endpointSource?: string;
  /** The profile's `s3 =` block's `addressing_style`, if set. */
  addressingStyle?: AddressingStyle;
  /** Where `addressingStyle` came from, for messages. */
  addressingStyleSource?: string;
}

/** Everything s3SettingsFrom reads: the environment, the selected profile, and both files parsed. */
export interface AwsConfigSources {
  env: Record<string, string | undefined>;
  /** The selected profile: --aws-profile, else AWS_PROFILE, else `default`. */
  profile: string;
  /** The config file, parsed, and its path for messages. */
  config: IniSections;
  configFile: string;
  /** The credentials file, parsed (its profile sections are `[name]`, never `[profile name]`). */
  credentials: IniSections;
}

/** The profile's settings: the config file's `[profile NAME]` (or `[default]`) overlaid with the credentials file's `[NAME]`, as the SDK merges them. */
function profileSettings(sources: AwsConfigSources): Record<string, string> {
  const { profile, config, credentials } = sources;
  const fromConfig = profile === 'default' ? { ...config['profile default'], ...config.default } : config[`profile ${profile}`];
  return { ...fromConfig, ...credentials[profile] };
}

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

/**
 * The S3 endpoint and addressing style that the environment and the selected profile configure,
 * in the AWS CLI v2's order: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then the `s3 =` block
 * of the `[services NAME]` section that the profile's `services = NAME` names, then the
 * profile's own `endpoint_url`. AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true (or the profile's
 * `ignore_configured_endpoint_urls = true`) ignores all of these. Pure: fails with E_USAGE on a
 * `services` name without its section, or an addressing style that is not path, virtual or auto.
 */
export function s3SettingsFrom(sources: AwsConfigSources): S3Settings {
  const { env, config, configFile, profile } = sources;
  const settings = profileSettings(sources);
  const where = profile === 'default' ? `[default] in ${configFile}` : `[profile ${profile}] in ${configFile}`;
  const result: S3Settings = {};
  const style = settings['s3.addressing_style']?.toLowerCase();
  if (style !== undefined) {
    if (style !== 'path' && style !== 'virtual' && style !== 'auto') {
      throw new CassetteError('E_USAGE', `addressing_style = ${settings['s3.addressing_style']} in the s3 block of ${where} is not path, virtual or auto`);
    }
    result.addressingStyle = style;
    result.addressingStyleSource = `addressing_style in ${where}`;
  }
  if (isTrue(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) || isTrue(settings.ignore_configured_endpoint_urls)) return result;
  const endpoint = ((): { endpoint: string; source: string } | undefined => {
    if (env.AWS_ENDPOINT_URL_S3) return { endpoint: env.AWS_ENDPOINT_URL_S3, source: 'AWS_ENDPOINT_URL_S3' };
    if (env.AWS_ENDPOINT_URL) return { endpoint: env.AWS_ENDPOINT_URL, source: 'AWS_ENDPOINT_URL' };
    const services = settings.services;
    if (services !== undefined) {
      const section = config[`services ${services}`];
      if (section === undefined) throw new CassetteError('E_USAGE', `${where} says services = ${services}, and ${configFile} has no [services ${services}] section`);
      const url = section['s3.endpoint_url'];
      if (url !== undefined) return { endpoint: url, source: `the s3 block of [services ${services}] in ${configFile}` };
    }
    if (settings.endpoint_url !== undefined) return { endpoint: settings.endpoint_url, source: `endpoint_url in ${where}` };
    return undefined;
  })();
  if (endpoint) {
    result.endpoint = endpoint.endpoint;
    result.endpointSource = endpoint.source;
  }
  return result;
}

/** The selected AWS profile: the --aws-profile value, else AWS_PROFILE, else `default`. */
export function selectedProfile(awsProfile: string | undefined, env: Record<string, string | undefined> = process.env): string {
  return awsProfile || env.AWS_PROFILE || 'default';
}

/** Reads and parses an ini file; a missing file is empty, an unreadable one fails with E_USAGE naming it. */
function readIni(file: string): IniSections {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return {};
    throw new CassetteError('E_USAGE', `cannot read the AWS file ${file}: ${messageOf(error)}`, { cause: error });
  }
  return parseAwsIni(text);
}

/** `~/.aws/x` as the SDK finds it: $HOME, else the user's home directory. */
function awsFile(variable: string | undefined, name: string, env: Record<string, string | undefined>): string {
  if (variable) return variable.startsWith('~/') ? path.join(env.HOME || os.homedir(), variable.slice(2)) : variable;
  return path.join(env.HOME || os.homedir(), '.aws', name);
}

/**
 * S3 settings from the real environment and files: AWS_CONFIG_FILE (default ~/.aws/config) and
 * AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials), for the profile `awsProfile` (see
 * selectedProfile).
 */
export function loadS3Settings(awsProfile: string | undefined, env: Record<string, string | undefined> = process.env): S3Settings {
  const configFile = awsFile(env.AWS_CONFIG_FILE, 'config', env);
  return s3SettingsFrom({
    env,
    profile: selectedProfile(awsProfile, env),
    config: readIni(configFile),
    configFile,
    credentials: readIni(awsFile(env.AWS_SHARED_CREDENTIALS_FILE, 'credentials', env)),
  });
}

/**
 * Whether requests use path-style addressing: as the command line asks (--path-style,
 * --virtual-host), else as the profile's addressing_style says, else path style for any custom
 * endpoint (MinIO, Ceph, s3rver, `localhost`: virtual hosts would need DNS names per bucket) and
 * the SDK's own choice (undefined) for AWS. `auto` is the SDK's choice too, or path style with a
 * custom endpoint.
 */
export function pathStyleFor(asked: 'path' | 'virtual' | undefined, configured: AddressingStyle | undefined, customEndpoint: boolean): boolean | undefined {
  const style = asked ?? configured;
  if (style === 'path') return true;
  if (style === 'virtual') return false;
  return customEndpoint ? true : undefined;
}
