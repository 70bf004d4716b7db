/**
 * The wire codec for NATS payloads: msgpack by default, JSON when the message carries
 * `Content-Type: application/json` (so an operator can use any NATS client by hand); the reply
 * uses the same encoding as the request.
 */
import { Packr } from 'msgpackr';

export type Encoding = 'msgpack' | 'json';
export const JSON_CONTENT_TYPE = 'application/json';
export const MSGPACK_CONTENT_TYPE = 'application/msgpack';

// Plain maps in, plain objects out: records, not class instances, cross the wire.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const textDecoder = new TextDecoder();

export function encodingOf(contentType: string | undefined | null): Encoding {
  return contentType !== undefined && contentType !== null && contentType.toLowerCase().startsWith(JSON_CONTENT_TYPE)
    ? 'json'
    : 'msgpack';
}

export function encode(value: unknown, encoding: Encoding = 'msgpack'): Uint8Array {
  // Buffer.from, not TextEncoder: a slice of Node's buffer pool, about 6x faster for a task record.
  if (encoding === 'json') return Buffer.from(JSON.stringify(value), 'utf8');
  return packr.pack(value);
}

/** Decodes a payload; throws on bytes that are not valid in the given encoding. */
export function decode(bytes: Uint8Array, encoding: Encoding = 'msgpack'): unknown {
  if (bytes.length === 0) return undefined;
  if (encoding === 'json') return JSON.parse(textDecoder.decode(bytes)) as unknown;
  return packr.unpack(bytes) as unknown;
}
