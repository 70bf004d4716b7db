/**
 * A byte buffer that keeps only the last `limit` bytes written, so a chatty or hostile command
 * cannot make the executor hold unbounded output; the tail is what shows why something failed.
 */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;

  /** @param limit the most bytes kept (the newest ones). */
  constructor(private readonly limit: number) {}

  /** Appends a chunk, dropping the oldest bytes past the limit. */
  push(chunk: Buffer): void {
    if (this.limit <= 0) {
      this.dropped += chunk.length;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.limit * 2) this.compact();
  }

  /** Bytes dropped from the front so far. */
  get truncatedBytes(): number {
    return this.dropped + Math.max(0, this.size - this.limit);
  }

  /** The kept tail, raw. */
  bytes(): Buffer {
    this.compact();
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** The kept tail as UTF-8; a character cut at the front of the tail is dropped, not garbled. */
  text(): string {
    const buf = this.bytes();
    let start = 0;
    // Skip UTF-8 continuation bytes left over from a character cut by the truncation.
    if (this.dropped > 0) while (start < buf.length && start < 3 && ((buf[start] ?? 0) & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks, this.size);
    const cut = Math.max(0, all.length - this.limit);
    this.dropped += cut;
    const kept = cut > 0 ? Buffer.from(all.subarray(cut)) : all;
    this.chunks = [kept];
    this.size = kept.length;
  }
}
