import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DroverError, ERROR_CODES, describeZodError, makeEnvelope, statusOf, toEnvelope, type ErrorCode } from '../../../src/protocols/index.js';
import { REPO_ROOT } from '../../helpers/drover.js';

describe('errors - the registry', () => {
  const readme = readFileSync(`${REPO_ROOT}/README.md`, 'utf8');

  it('documents every code in the README error table with its status and retriability', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const row = new RegExp(`^\\| \`${code}\` \\| ${info.status} \\| ${info.retriable ? 'yes' : 'no'} \\|`, 'm');
      expect(readme, `README row for ${code}`).toMatch(row);
    }
  });

  it('maps the DESIGN §8 codes to their statuses', () => {
    const expected: Partial<Record<ErrorCode, number>> = {
      INVALID_PARAMS: 400, UNAUTHORIZED: 401, NOT_FOUND: 404, ADMISSION_REJECT: 429, QUEUE_FULL_DROP_LRU: 429,
      POOL_UNAVAILABLE: 503, POOL_UNREADY: 503, DEADLINE_UNMET: 400, INTERNAL: 500,
    };
    for (const [code, status] of Object.entries(expected)) expect(statusOf(code as ErrorCode)).toBe(status);
  });

  it('round-trips a DroverError through its envelope', () => {
    const err = new DroverError('ADMISSION_REJECT', 'full', { retryAfterMs: 1500, policyLabel: 'reject', poolId: 'p' });
    const env = err.toEnvelope('corr-1');
    expect(env).toEqual({ code: 'ADMISSION_REJECT', message: 'full', retriable: true, retry_after_ms: 1500, policy_label: 'reject', correlation_id: 'corr-1', pool_id: 'p' });
    const back = DroverError.fromEnvelope(env);
    expect([back.code, back.status, back.retryAfterMs, back.policyLabel]).toEqual(['ADMISSION_REJECT', 429, 1500, 'reject']);
  });

  it('turns anything else into INTERNAL and describes zod errors in one line', () => {
    expect(toEnvelope(new Error('boom'))).toEqual(makeEnvelope('INTERNAL', 'boom'));
    const parsed = z.object({ a: z.number() }).safeParse({ a: 'x' });
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(describeZodError(parsed.error)).toMatch(/^a: /);
  });
});
