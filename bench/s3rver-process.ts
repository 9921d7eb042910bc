// Runs @20minutes/s3rver in its own process for the bench (it needs --openssl-legacy-provider for list pagination) and prints {"port": N}.
// Usage: node --openssl-legacy-provider dist/bench/s3rver-process.js DIRECTORY

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}

const directory = process.argv[2];
const { default: S3rver } = (await import('@20minutes/s3rver' as string)) as { default: new (options: Record<string, unknown>) => S3rverInstance };
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, allowMismatchedSignatures: true });
const { port } = await server.run();
process.stdout.write(JSON.stringify({ port }) + '\n');
const stop = async (): Promise<void> => {
  await server.close().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// Exit with the bench: stdin closes when the parent goes away.
process.stdin.resume();
process.stdin.on('end', () => void stop());
