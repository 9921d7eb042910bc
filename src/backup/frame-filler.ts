// Cuts a stream of byte pieces into frames of a fixed size, copying each piece into frame buffers from an allocator.

/**
 * `add` yields every frame a piece fills (the buffer is the consumer's from then on); `rest`
 * gives the last, partly filled frame once the stream has ended. Used by stream sources (database
 * dumps) and the index upload, whose input comes in pieces of any size.
 */
export class FrameFiller {
  private frame: Buffer | undefined;
  private filled = 0;

  constructor(
    private readonly frameSize: number,
    private readonly allocate: (size: number) => Buffer,
  ) {
    if (!Number.isInteger(frameSize) || frameSize < 1) throw new RangeError(`Expected \`frameSize\` to be a number from 1 and up, got ${frameSize}`);
  }

  *add(piece: Buffer): Generator<Buffer> {
    let at = 0;
    while (at < piece.length) {
      this.frame ??= this.allocate(this.frameSize);
      const n = Math.min(this.frameSize - this.filled, piece.length - at);
      piece.copy(this.frame, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === this.frameSize) {
        const full = this.frame;
        this.frame = undefined;
        this.filled = 0;
        yield full;
      }
    }
  }

  /** The partly filled last frame (a view of its buffer), or undefined when the stream ended on a frame boundary. */
  rest(): Buffer | undefined {
    const last = this.frame && this.filled > 0 ? this.frame.subarray(0, this.filled) : undefined;
    this.frame = undefined;
    this.filled = 0;
    return last;
  }
}
