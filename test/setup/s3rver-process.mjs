// Runs @20minutes/s3rver in its own process (it needs --openssl-legacy-provider for list pagination) and prints {"port": N}.
import S3rver from '@20minutes/s3rver';

const directory = process.argv[2];
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, allowMismatchedSignatures: true });
const { port } = await server.run();
process.stdout.write(JSON.stringify({ port }) + '\n');
const stop = async () => {
  await server.close().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Exit with the parent: stdin closes when the test runner goes away.
process.stdin.resume();
process.stdin.on('end', stop);
