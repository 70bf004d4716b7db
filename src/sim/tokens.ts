/**
 * Deterministic "tokens" for the simulated engine: words drawn from a fixed list by a small seeded
 * PRNG, so the same prompt and seed always give the same text, streamed or not. The JSON form of
 * every token is computed once here so the hot path never calls JSON.stringify.
 */

const WORDS = [
  'the', 'a', 'model', 'token', 'stream', 'engine', 'fleet', 'host', 'GPU', 'cache',
  'prompt', 'answer', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'and',
  'river', 'mountain', 'city', 'light', 'dark', 'blue', 'green', 'red', 'small', 'large',
  'runs', 'reads', 'writes', 'sends', 'waits', 'moves', 'turns', 'holds', 'finds', 'makes',
  'of', 'to', 'in', 'on', 'with', 'for', 'from', 'by', 'at', 'as',
  'time', 'world', 'day', 'way', 'thing', 'place', 'work', 'part', 'number', 'sound',
  'Paris', 'France', 'capital', 'is',
] as const;

/** Token texts (" word"), indexed like the word list. */
const TOKEN_TEXTS: readonly string[] = WORDS.map((word) => ` ${word}`);
/** The same texts as JSON string literals, ready to splice into a chunk template. */
const TOKEN_JSON: readonly string[] = TOKEN_TEXTS.map((text) => JSON.stringify(text));

/** Number of distinct tokens the simulator can produce. */
export const VOCABULARY_SIZE = WORDS.length;

/** The text of token `index` (for example `" model"`). */
export function tokenText(index: number): string {
  return TOKEN_TEXTS[index] ?? '';
}

/** The JSON string literal of token `index` (for example `"\" model\""`). */
export function tokenJson(index: number): string {
  return TOKEN_JSON[index] ?? '""';
}

/** Prompt length in simulated tokens: whitespace-separated words, at least 1 (the BOS token). */
export function countPromptTokens(text: string): number {
  let count = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const space = code === 32 || (code >= 9 && code <= 13);
    if (!space && !inWord) count++;
    inWord = !space;
  }
  return Math.max(1, count);
}

/** Stable token ids for a prompt (for `/tokenize`): one id per word, derived from its hash. */
export function promptTokenIds(text: string): number[] {
  const words = text.split(/\s+/).filter((word) => word.length > 0);
  const ids = words.map((word) => fnv1a(word) % 151_000);
  return ids.length > 0 ? ids : [151_643];
}

/** Seeded source of token indexes (mulberry32), seeded from the prompt and the request seed. */
export class SeededTokenSource {
  private state: number;

  constructor(prompt: string, seed: number) {
    this.state = (fnv1a(prompt) ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0;
  }

  /** The next token index. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    return Math.floor(unit * VOCABULARY_SIZE);
  }
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
