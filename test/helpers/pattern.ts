// Deterministic test data: bytes that do not compress, the same for the same size and seed.

/** `size` pseudo-random bytes from a linear congruential generator seeded with `seed`. */
export function pattern(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
