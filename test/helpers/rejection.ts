// What a promise that must fail rejected with, for tests that then check its code and message.

import type { CassetteError } from '../../src/errors.js';

/** The reason `promise` rejected with; throws "expected <what> to fail" if it resolved instead. */
export async function rejection(promise: Promise<unknown>, what = 'the call'): Promise<CassetteError> {
  try {
    await promise;
  } catch (error) {
    return error as CassetteError;
  }
  throw new Error(`expected ${what} to fail, but it succeeded`);
}

/** What a synchronous call that must fail threw; throws "expected <what> to throw" if it returned instead. */
export function thrown(fn: () => unknown, what = 'the call'): CassetteError {
  try {
    fn();
  } catch (error) {
    return error as CassetteError;
  }
  throw new Error(`expected ${what} to throw, but it returned`);
}

/** `data` cut into pieces of `size` characters or bytes, as a stream might deliver it. */
export function cut<T extends string | Buffer>(data: T, size: number): T[] {
  const pieces: T[] = [];
  for (let at = 0; at < data.length; at += size) pieces.push((typeof data === 'string' ? data.slice(at, at + size) : data.subarray(at, at + size)) as T);
  return pieces;
}
