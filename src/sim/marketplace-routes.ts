/**
 * HTTP face of the simulated marketplace: exactly the Vast.ai endpoints Drover uses, with Vast's
 * paths (trailing slashes), auth (Bearer or `?api_key=`), envelopes and error codes
 * (reference/vast-api.md §3–§8), plus test faults: a plain-text 429 every Nth request and canned
 * answers for the next requests.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { VastCreateRequestWireSchema } from '../protocols/offers.js';
import { searchRows, selectCols } from './marketplace-filters.js';
import type { MarketplaceState } from './marketplace-state.js';
import type { CannedResponse, SimMarketplaceFaults } from './marketplace-types.js';

const MAX_BODY_BYTES = 1024 * 1024;
/** Rows per page of `GET /api/v1/instances/`. */
export const INSTANCES_PAGE_SIZE = 25;

/** What the routes share with the marketplace. */
export interface RoutesContext {
  state: MarketplaceState;
  apiKey: string | undefined;
  faults: SimMarketplaceFaults;
  canned: CannedResponse[];
  log: Logger;
  /** Requests received so far. */
  requests: number;
}

type Reply = { status: number; body: unknown; contentType?: string };

/** Answers one request; never throws (a defect becomes a 500). */
export async function handleRequest(ctx: RoutesContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  ctx.requests++;
  let reply: Reply;
  try {
    reply = await route(ctx, req);
  } catch (err) {
    ctx.log.error({ err, method: req.method, url: redactUrl(req.url) }, 'sim marketplace route failed');
    reply = { status: 500, body: { success: false, error: 'server_error', msg: 'Internal server error' } };
  }
  send(res, reply);
}

async function route(ctx: RoutesContext, req: IncomingMessage): Promise<Reply> {
  const canned = ctx.canned.shift();
  if (canned !== undefined) {
    await readBody(req);
    return canned;
  }
  const every = ctx.faults.rateLimitEvery ?? 0;
  if (every > 0 && ctx.requests % every === 0) {
    await readBody(req);
    return { status: 429, body: 'API requests too frequent', contentType: 'text/plain; charset=utf-8' };
  }
  const url = new URL(req.url ?? '/', 'http://sim.invalid');
  if (!authorized(ctx.apiKey, req, url)) {
    await readBody(req);
    return fail(401, 'invalid_user_key', 'Invalid user key');
  }
  const method = req.method ?? 'GET';
  const raw = await readBody(req);
  const path = url.pathname;
  let m: RegExpExecArray | null;
  if (path === '/api/v0/bundles/') return method === 'POST' ? search(ctx, raw, false) : notAllowed(method, path);
  if (path === '/api/v0/search/asks/') return method === 'PUT' ? search(ctx, raw, true) : notAllowed(method, path);
  if ((m = /^\/api\/v0\/asks\/(\d+)\/$/.exec(path)) !== null) return method === 'PUT' ? rent(ctx, Number(m[1]), raw) : notAllowed(method, path);
  if (path === '/api/v0/instances/') {
    if (method !== 'GET') return notAllowed(method, path);
    const rows = ctx.state.instanceRows();
    return ok({ instances_found: rows.length, instances: rows });
  }
  if (path === '/api/v1/instances/') return method === 'GET' ? listPage(ctx, url) : notAllowed(method, path);
  if ((m = /^\/api\/v0\/instances\/(\d+)\/$/.exec(path)) !== null) {
    const id = Number(m[1]);
    if (method === 'GET') return ok({ instances: ctx.state.instanceRow(id) ?? null });
    if (method === 'DELETE') {
      return (await ctx.state.destroy(id))
        ? ok({ success: true, msg: 'Instance destroyed successfully' })
        : fail(404, 'no_such_instance', `Instance ${id} not found.`);
    }
    return notAllowed(method, path);
  }
  return fail(404, 'not_found', `No route for ${method} ${path}`);
}

function search(ctx: RoutesContext, raw: string, wrapped: boolean): Reply {
  const body = parseJson(raw);
  if (body === undefined) return fail(400, 'invalid_args', 'Request body is not valid JSON.');
  const envelope = wrapped && typeof body === 'object' && body !== null ? (body as { q?: unknown; select_cols?: unknown }) : undefined;
  const result = searchRows(ctx.state.offerRows(), wrapped ? envelope?.q ?? {} : body);
  if (!result.ok) return fail(400, 'invalid_args', result.msg);
  return wrapped ? ok({ success: true, offers: selectCols(result.rows, envelope?.select_cols) }) : ok({ offers: result.rows });
}

function rent(ctx: RoutesContext, offerId: number, raw: string): Reply {
  const parsed = VastCreateRequestWireSchema.safeParse(parseJson(raw));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(400, 'invalid_args', `Invalid create request: ${issue?.path.map(String).join('.') ?? ''} ${issue?.message ?? ''}`.trim());
  }
  const id = ctx.state.rent(offerId, parsed.data);
  if (id === undefined) return fail(400, 'no_such_ask', `Instance type ${offerId} is no longer available.`);
  return ok({ success: true, new_contract: id });
}

/** `GET /api/v1/instances/`: ordered by id, `limit` (≤ 25) rows after `after_token`. */
function listPage(ctx: RoutesContext, url: URL): Reply {
  const orderBy = parseJson(url.searchParams.get('order_by') ?? '[]');
  const desc = Array.isArray(orderBy) && orderBy.some((o) => typeof o === 'object' && o !== null && (o as { col?: unknown; dir?: unknown }).col === 'id' && (o as { dir?: unknown }).dir === 'desc');
  const limitParam = Number(parseJson(url.searchParams.get('limit') ?? '') ?? INSTANCES_PAGE_SIZE);
  const limit = Number.isInteger(limitParam) && limitParam > 0 ? Math.min(limitParam, INSTANCES_PAGE_SIZE) : INSTANCES_PAGE_SIZE;
  const after = decodeToken(url.searchParams.get('after_token'));
  if (after === null) return fail(400, 'invalid_args', 'Invalid after_token.');
  const all = ctx.state.instanceRows();
  const rows = desc ? all.reverse() : all;
  const rest = after === undefined ? rows : rows.filter((r) => (desc ? Number(r.id) < after : Number(r.id) > after));
  const page = rest.slice(0, limit);
  const last = page[page.length - 1];
  const labelCounts: Record<string, number> = {};
  for (const r of all) if (typeof r.label === 'string') labelCounts[r.label] = (labelCounts[r.label] ?? 0) + 1;
  return ok({
    instances: page,
    next_token: rest.length > limit && last !== undefined ? encodeToken(Number(last.id)) : null,
    total_instances: all.length,
    label_counts: labelCounts,
  });
}

function encodeToken(id: number): string {
  return Buffer.from(JSON.stringify({ after: id })).toString('base64url');
}

/** undefined: no token; null: a malformed one. */
function decodeToken(token: string | null): number | undefined | null {
  if (token === null || token === '') return undefined;
  const parsed = parseJson(Buffer.from(token, 'base64url').toString('utf8'));
  const after = typeof parsed === 'object' && parsed !== null ? (parsed as { after?: unknown }).after : undefined;
  return typeof after === 'number' ? after : null;
}

function authorized(apiKey: string | undefined, req: IncomingMessage, url: URL): boolean {
  if (apiKey === undefined) return true;
  const header = req.headers.authorization;
  const bearer = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
  const given = bearer ?? url.searchParams.get('api_key') ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(apiKey);
  return a.length === b.length && timingSafeEqual(a, b);
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function fail(status: number, error: string, msg: string): Reply {
  return { status, body: { success: false, error, msg } };
}

function notAllowed(method: string, path: string): Reply {
  return fail(405, 'method_not_allowed', `Method ${method} not allowed on ${path}`);
}

function send(res: ServerResponse, reply: Reply): void {
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  const type = reply.contentType ?? (typeof reply.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json');
  res.writeHead(reply.status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function redactUrl(url: string | undefined): string {
  return (url ?? '').replace(/([?&]api_key=)[^&]*/g, '$1[redacted]');
}
