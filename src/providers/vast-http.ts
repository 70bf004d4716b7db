/**
 * The Vast.ai REST transport (reference/vast-api.md §1, §2, §8): request shapes as vast-cli sends
 * them (Bearer key, `/api/v0` prefix, JSON body on PUT/POST/DELETE, query values JSON-encoded the
 * way Python's `quote_plus(json.dumps(v))` does), the CLI's retry policy (429/502/503/504 and
 * network errors, 0.15 s × 1.5 backoff; 429 rarely carries Retry-After) and the mapping of Vast's
 * error envelopes to ProviderError kinds. The API key is only ever put in the Authorization header
 * and never logged.
 */
import { request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { VastErrorWireSchema } from '../protocols/index.js';
import { ProviderError, type ProviderErrorKind } from './types.js';

/** Retry policy: `attempts` counts every try (the first included); delays are baseMs × factor^n. */
export interface RetryOptions {
  attempts: number;
  baseMs: number;
  factor: number;
}

/** vast-cli's policy: retry=3 after the first try, 0.15 s then ×1.5. */
export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseMs: 150, factor: 1.5 };

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const MAX_MESSAGE_CHARS = 500;

/** One answered request, before interpretation. */
export interface VastResponse {
  method: string;
  path: string;
  status: number;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  json: unknown;
}

/** Options of the transport (the VastProvider constructor's). */
export interface VastHttpOptions {
  apiUrl: string;
  apiKey: string;
  logger: Logger;
  dispatcher?: Dispatcher;
  retry?: RetryOptions;
  sleep?: (ms: number) => Promise<void>;
  /** Per-request timeout (headers and body); the CLI's is 120 s. */
  timeoutMs?: number;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Sends requests to the Vast API with retries; interpretation is left to the caller. */
export class VastHttp {
  private readonly base: string;
  private readonly apiKey: string;
  private readonly log: Logger;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly retry: RetryOptions;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly timeoutMs: number;

  constructor(opts: VastHttpOptions) {
    this.base = normaliseBase(opts.apiUrl);
    this.apiKey = opts.apiKey;
    this.log = opts.logger;
    this.dispatcher = opts.dispatcher;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /**
   * Sends one request, retrying 429/502/503/504 and network failures. When retries run out it
   * throws 'rate_limited', 'server' or 'network'; every other answer is returned as is.
   */
  async call(
    method: Method,
    subpath: string,
    opts: { query?: Record<string, unknown>; body?: unknown; retryOnlyRateLimit?: boolean } = {},
  ): Promise<VastResponse> {
    const path = apiPath(subpath);
    const url = `${this.base}${path}${encodeQuery(opts.query)}`;
    const body = method === 'GET' ? undefined : JSON.stringify(opts.body ?? {});
    const attempts = Math.max(1, this.retry.attempts);
    for (let attempt = 1; ; attempt++) {
      let res: VastResponse | undefined;
      let failure: unknown;
      try {
        res = await this.once(method, path, url, body);
      } catch (err) {
        failure = err;
      }
      // A request that may have taken effect (5xx, connection lost after sending) is not retried
      // when it is not idempotent: only a 429, refused before any work, is.
      const retriable = opts.retryOnlyRateLimit === true ? res?.status === 429 : res === undefined || RETRYABLE_STATUS.has(res.status);
      if (!retriable && res !== undefined) return res;
      if (!retriable) throw new ProviderError('network', `Vast ${method} ${path}: ${errorText(failure)}`, { cause: failure });
      if (attempt >= attempts) {
        if (res !== undefined) throw failureOf(res) ?? new ProviderError('server', describe(res), { status: res.status });
        throw new ProviderError('network', `Vast ${method} ${path}: ${errorText(failure)}`, { cause: failure });
      }
      const delay = this.retry.baseMs * this.retry.factor ** (attempt - 1);
      this.log.debug({ method, path, status: res?.status, err: res === undefined ? errorText(failure) : undefined, attempt, delay_ms: delay }, 'vast request retried');
      await this.sleep(delay);
    }
  }

  private async once(method: Method, path: string, url: string, body: string | undefined): Promise<VastResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}`, accept: 'application/json', 'user-agent': 'drover' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(url, {
      method,
      headers,
      body,
      dispatcher: this.dispatcher,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    const text = await res.body.text();
    this.log.debug({ method, path, status: res.statusCode }, 'vast request');
    return { method, path, status: res.statusCode, text, json: parseJson(text) };
  }
}

/**
 * The ProviderError a response stands for, or undefined when it is a success (2xx without
 * `success: false`). Vast error codes win over statuses: `no_such_ask` is 'offer_taken' whether it
 * comes as 400, 404, 410 or 200.
 */
export function failureOf(res: VastResponse): ProviderError | undefined {
  const env = VastErrorWireSchema.safeParse(res.json);
  const envelope = env.success ? env.data : undefined;
  const ok = res.status >= 200 && res.status < 300;
  if (ok && envelope?.success !== false) return undefined;
  const kind = kindOf(res.status, envelope?.error, messageOf(res));
  return new ProviderError(kind, describe(res), { status: res.status });
}

/** The human message of a response: `msg`, then `message`, then the raw text (bounded). */
export function messageOf(res: VastResponse): string {
  const env = VastErrorWireSchema.safeParse(res.json);
  const text = (env.success ? env.data.msg ?? env.data.message : undefined) ?? res.text.trim();
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

/** The `error` code of a response's envelope, when it has one. */
export function errorCodeOf(res: VastResponse): string | undefined {
  const env = VastErrorWireSchema.safeParse(res.json);
  return env.success ? env.data.error : undefined;
}

function kindOf(status: number, code: string | undefined, msg: string): ProviderErrorKind {
  switch (code) {
    case 'no_such_ask':
      return 'offer_taken';
    case 'insufficient_credit':
      return 'insufficient_credit';
    case 'no_such_instance':
      return 'not_found';
    case 'invalid_user_key':
    case 'authorization_required':
      return 'unauthorized';
    default:
      break;
  }
  if (status === 401 || status === 403) return 'unauthorized';
  // vast-cli `_is_tfa_session_expired`: a 2FA session expiry comes as 404.
  if (status === 404 && /session expired/i.test(msg)) return 'unauthorized';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  if (/insufficient credit/i.test(msg)) return 'insufficient_credit';
  return 'rejected';
}

function describe(res: VastResponse): string {
  const code = errorCodeOf(res);
  return `Vast ${res.method} ${res.path} failed with ${res.status}${code === undefined ? '' : ` ${code}`}: ${messageOf(res) || '(empty body)'}`;
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** `https://console.vast.ai/` or `…/api/v0` → `https://console.vast.ai` (paths carry the prefix). */
function normaliseBase(apiUrl: string): string {
  return apiUrl.replace(/\/+$/, '').replace(/\/api\/v\d+$/, '');
}

/** vast-cli `apiurl`: a subpath without `/api/vN/` gets `/api/v0`. */
function apiPath(subpath: string): string {
  const p = subpath.startsWith('/') ? subpath : `/${subpath}`;
  return /^\/api\/v\d+\//.test(p) ? p : `/api/v0${p}`;
}

/** `?k=v&…` with strings as they are and everything else as `json.dumps`, all `quote_plus`-ed. */
export function encodeQuery(query: Record<string, unknown> | undefined): string {
  if (query === undefined) return '';
  const parts = Object.entries(query)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${quotePlus(k)}=${quotePlus(typeof v === 'string' ? v : pythonJsonDumps(v))}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** Python's `urllib.parse.quote_plus`: only `A-Za-z0-9_.-~` stay bare, spaces become `+`. */
export function quotePlus(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** Python's `json.dumps` defaults: `", "` and `": "` separators, non-ASCII escaped. */
export function pythonJsonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${asciiJson(k)}: ${pythonJsonDumps(v)}`)
      .join(', ')}}`;
  }
  if (typeof value === 'string') return asciiJson(value);
  return JSON.stringify(value) ?? 'null';
}

function asciiJson(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
