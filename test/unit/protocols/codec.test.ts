import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../src/protocols/codec.js';

describe('codec', () => {
  it('JSON: bytes are the UTF-8 of JSON.stringify, and decode gives the value back', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const bytes = encode(value, 'json');
        expect(bytes).toBeInstanceOf(Uint8Array);
        expect(new TextDecoder().decode(bytes)).toBe(JSON.stringify(value));
        expect(decode(bytes, 'json')).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('JSON: multibyte text survives (surrogate pairs, combining marks)', () => {
    const value = { prompt: 'grüße 👋 e\u0301 路由', n: 1 };
    expect(decode(encode(value, 'json'), 'json')).toEqual(value);
  });

  it('msgpack: decode gives the value back', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(decode(encode(value), 'msgpack')).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});
