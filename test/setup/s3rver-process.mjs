// Runs @20minutes/s3rver in its own Node process and prints {"port": N} on stdout; it needs
// --openssl-legacy-provider (its list pagination token uses DES), which the parent passes.
// Usage: node --openssl-legacy-provider s3rver-process.mjs <directory> [accessKeyId secretAccessKey]
// It exits when stdin closes, so it never outlives the test runner that started it; with
// CASSETTE_S3RVER_REMOVE_DIR=1 it also removes <directory> on exit (a temp dir made for it).
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import S3rver from '@20minutes/s3rver';

const [directory, accessKeyId, secretAccessKey] = process.argv.slice(2);
if (!directory) {
  process.stderr.write('usage: s3rver-process.mjs <directory> [accessKeyId secretAccessKey]\n');
  process.exit(2);
}

// s3rver only knows the S3RVER/S3RVER key pair; register the test credentials on the same account
// so clients that use the standard test environment are accepted (and their signatures match).
if (accessKeyId && secretAccessKey) {
  const require = createRequire(import.meta.url);
  const AWSAccount = require('@20minutes/s3rver/lib/models/account.js');
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
}

const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, allowMismatchedSignatures: true });
const { port } = await server.run();
process.stdout.write(JSON.stringify({ port }) + '\n');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close().catch(() => undefined);
  if (process.env.CASSETTE_S3RVER_REMOVE_DIR === '1') rmSync(directory, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Exit with the parent: stdin is a pipe from the test runner and ends when the runner goes away.
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
