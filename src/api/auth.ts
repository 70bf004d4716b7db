/**
 * Bearer-token authentication. The token is compared in constant time: both sides are hashed to
 * sha256 first so the comparison does not leak the token's length either. Neither the token nor the
 * Authorization header is ever logged (see the redaction paths in server.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { DroverError } from '../protocols/index.js';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * An `onRequest` hook that throws UNAUTHORIZED unless the request carries `Authorization: Bearer
 * <token>`. The error handler adds `WWW-Authenticate: Bearer`.
 */
export function bearerAuth(token: string): (request: FastifyRequest) => Promise<void> {
  const expected = sha256(token);
  return async (request) => {
    const header = request.headers.authorization;
    const presented = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (presented === undefined || !timingSafeEqual(sha256(presented), expected)) {
      throw new DroverError('UNAUTHORIZED', presented === undefined ? 'missing bearer token' : 'invalid bearer token');
    }
  };
}
