/**
 * The simulated vLLM engine: a node:http server that answers like `vllm serve` (vllm-api.md) —
 * `/health`, `/version`, `/v1/models`, `/tokenize`, `/metrics`, and streamed or whole
 * `/v1/completions` and `/v1/chat/completions` with vLLM's exact bytes — with a bounded number of
 * running sequences, a FIFO of waiting ones, and faults that can be switched at runtime.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { METRICS_CONTENT_TYPE, SimEngineMetrics } from './engine-metrics.js';
import { parseGenerationBody, parseTokenizeBody } from './engine-requests.js';
import { ENGINE_DEAD_MESSAGE, errorBody, newResponseId, type SimApi } from './openai-wire.js';
import { SequenceScheduler } from './scheduler.js';
import { SimSequence, type SequenceContext } from './sequence.js';
import { countPromptTokens, promptTokenIds } from './tokens.js';
import type { SimEngine, SimEngineFaults, SimEngineOptions, SimEngineStats } from './types.js';

const MAX_BODY_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_NUM_SEQS = 256;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Starts a simulated vLLM engine; resolves once it listens. */
export async function startSimEngine(opts: SimEngineOptions): Promise<SimEngine> {
  const engine = new SimEngineServer(opts);
  await engine.listen(opts.port ?? 0);
  return engine;
}

class SimEngineServer implements SimEngine, SequenceContext {
  readonly model: string;
  readonly modelJson: string;
  readonly scheduler: SequenceScheduler;
  readonly metrics: SimEngineMetrics;
  readonly ttftMs: number;
  readonly tokensPerSec: number;
  private readonly host: string;
  private readonly maxModelLen: number;
  private readonly maxNumSeqs: number;
  private readonly versionBody: string;
  private readonly apiKey: Buffer | undefined;
  private readonly keepAliveTimeoutMs: number;
  private readonly activeFaults: SimEngineFaults;
  private readonly servers = new Map<Server, Promise<void>>();
  private listener: Server | undefined;
  private boundPort = 0;
  private requestsTotal = 0;
  private closed = false;
  private listening: Promise<void> = Promise.resolve();
  private readonly handleBound = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);

  constructor(opts: SimEngineOptions) {
    this.model = opts.model;
    this.modelJson = JSON.stringify(opts.model);
    this.host = opts.host ?? '127.0.0.1';
    this.ttftMs = opts.ttftMs ?? 0;
    this.tokensPerSec = opts.tokensPerSec ?? 0;
    this.maxNumSeqs = opts.maxNumSeqs ?? DEFAULT_MAX_NUM_SEQS;
    this.maxModelLen = opts.maxModelLen ?? 2048;
    this.versionBody = JSON.stringify({ version: opts.version ?? '0.11.0' });
    this.apiKey = opts.apiKey === undefined ? undefined : Buffer.from(`Bearer ${opts.apiKey}`);
    this.keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
    this.activeFaults = { ...opts.faults };
    this.scheduler = new SequenceScheduler(this.maxNumSeqs);
    this.metrics = new SimEngineMetrics(opts.model);
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.boundPort}`;
  }

  faults(): SimEngineFaults {
    return this.activeFaults;
  }

  stats(): SimEngineStats {
    return {
      running: this.scheduler.running,
      waiting: this.scheduler.waiting,
      requestsTotal: this.requestsTotal,
      tokensTotal: this.metrics.generatedTokens,
    };
  }

  async setFaults(partial: SimEngineFaults): Promise<void> {
    Object.assign(this.activeFaults, partial);
    // Serialised, so quick on/off toggles of `refuse` apply in order.
    this.listening = this.listening.catch(() => undefined).then(() => this.syncListening());
    await this.listening;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listener = undefined;
    for (const server of this.servers.keys()) {
      if (server.listening) server.close();
      server.closeAllConnections();
    }
    await Promise.all(this.servers.values());
  }

  /** Listens on `port` (0 = any) unless the `refuse` fault is on. */
  async listen(port: number): Promise<void> {
    this.boundPort = port;
    await this.syncListening();
  }

  private async syncListening(): Promise<void> {
    const wanted = this.activeFaults.refuse !== true && !this.closed;
    if (wanted && this.listener === undefined) {
      this.listener = await this.openServer();
    } else if (!wanted && this.listener !== undefined) {
      // Stop accepting and drop idle keep-alive sockets so clients really see refusals;
      // streams in flight carry on.
      const server = this.listener;
      this.listener = undefined;
      server.close();
      server.closeIdleConnections();
    }
  }

  private async openServer(): Promise<Server> {
    // Node answers `Keep-Alive: timeout=<s>` where uvicorn sends no hint; both close an idle connection after it.
    const server = createServer({ noDelay: true }, this.handleBound);
    server.keepAliveTimeout = this.keepAliveTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') this.boundPort = address.port;
    this.servers.set(server, new Promise<void>((resolve) => server.once('close', () => resolve())));
    void this.servers.get(server)?.then(() => this.servers.delete(server));
    return server;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', ignore);
    res.on('error', ignore);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (this.apiKey !== undefined && path.startsWith('/v1/') && !this.authorized(req)) {
      return sendJson(res, 401, '{"error":"Unauthorized"}');
    }
    const method = req.method ?? 'GET';
    switch (path) {
      case '/health':
        if (method !== 'GET') return methodNotAllowed(res);
        res.writeHead(this.activeFaults.engineDead === true ? 503 : 200, { 'content-length': 0 });
        return void res.end();
      case '/version':
        return method === 'GET' ? sendJson(res, 200, this.versionBody) : methodNotAllowed(res);
      case '/v1/models':
        return method === 'GET' ? sendJson(res, 200, this.modelsBody()) : methodNotAllowed(res);
      case '/metrics':
        if (method !== 'GET') return methodNotAllowed(res);
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
        return void res.end(this.metrics.render({ running: this.scheduler.running, waiting: this.scheduler.waiting, maxRunning: this.maxNumSeqs }));
      case '/tokenize':
        return method === 'POST' ? this.withBody(req, res, (body) => this.tokenize(body, res)) : methodNotAllowed(res);
      case '/v1/completions':
        return method === 'POST' ? this.withBody(req, res, (body) => this.generate('completions', body, res)) : methodNotAllowed(res);
      case '/v1/chat/completions':
        return method === 'POST' ? this.withBody(req, res, (body) => this.generate('chat', body, res)) : methodNotAllowed(res);
      default:
        return sendJson(res, 404, '{"detail":"Not Found"}');
    }
  }

  private generate(api: SimApi, body: unknown, res: ServerResponse): void {
    this.requestsTotal++;
    const faults = this.activeFaults;
    if (faults.failBeforeFirstToken === 'reset') return void res.destroy();
    if (faults.failBeforeFirstToken === 'http500' || faults.engineDead === true) {
      return sendJson(res, 500, errorBody(ENGINE_DEAD_MESSAGE, 'InternalServerError', null, 500));
    }
    const parsed = parseGenerationBody(api, body);
    if (!parsed.ok) return sendJson(res, 400, errorBody(parsed.message, 'BadRequestError', null, 400));
    const params = parsed.value;
    if (params.model !== undefined && params.model !== this.model) return this.modelNotFound(res, params.model);
    const promptTokens = countPromptTokens(params.promptText);
    if (promptTokens + params.maxTokens > this.maxModelLen) {
      const message =
        `This model's maximum context length is ${this.maxModelLen} tokens. However, you requested ` +
        `${promptTokens + params.maxTokens} tokens (${promptTokens} in the messages, ${params.maxTokens} in the completion). ` +
        'Please reduce the length of the messages or completion.';
      return sendJson(res, 400, errorBody(message, 'BadRequestError', null, 400));
    }
    if (faults.hang === true) {
      // A wedged engine: the response has started but nothing ever follows.
      if (params.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
        res.flushHeaders();
      }
      return;
    }
    const identity = { id: newResponseId(api, randomUUID()), created: Math.floor(Date.now() / 1000) };
    new SimSequence(this, api, params, promptTokens, identity, res).start();
  }

  private tokenize(body: unknown, res: ServerResponse): void {
    const parsed = parseTokenizeBody(body);
    if (!parsed.ok) return sendJson(res, 400, errorBody(parsed.message, 'BadRequestError', null, 400));
    if (parsed.value.model !== undefined && parsed.value.model !== this.model) return this.modelNotFound(res, parsed.value.model);
    const tokens = promptTokenIds(parsed.value.promptText);
    sendJson(res, 200, `{"count":${tokens.length},"max_model_len":${this.maxModelLen},"tokens":[${tokens.join(',')}],"token_strs":null}`);
  }

  private modelNotFound(res: ServerResponse, model: string): void {
    sendJson(res, 404, errorBody(`The model \`${model}\` does not exist.`, 'NotFoundError', 'model', 404));
  }

  private modelsBody(): string {
    const created = Math.floor(Date.now() / 1000);
    const permission =
      `{"id":"modelperm-${randomUUID().replaceAll('-', '')}","object":"model_permission","created":${created},` +
      '"allow_create_engine":false,"allow_sampling":true,"allow_logprobs":true,"allow_search_indices":false,' +
      '"allow_view":true,"allow_fine_tuning":false,"organization":"*","group":null,"is_blocking":false}';
    return (
      `{"object":"list","data":[{"id":${this.modelJson},"object":"model","created":${created},"owned_by":"vllm",` +
      `"root":${this.modelJson},"parent":null,"max_model_len":${this.maxModelLen},"permission":[${permission}]}]}`
    );
  }

  private authorized(req: IncomingMessage): boolean {
    const expected = this.apiKey;
    const given = req.headers.authorization;
    if (expected === undefined) return true;
    if (given === undefined) return false;
    const givenBytes = Buffer.from(given);
    return givenBytes.length === expected.length && timingSafeEqual(givenBytes, expected);
  }

  /** Reads a JSON body, answering vLLM's 400 for oversized or unparsable input. */
  private withBody(req: IncomingMessage, res: ServerResponse, onBody: (body: unknown) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return sendJson(res, 400, errorBody('Request body too large', 'BadRequestError', null, 400));
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        const message = `JSON decode error: ${error instanceof Error ? error.message : String(error)}`;
        return sendJson(res, 400, errorBody(message, 'BadRequestError', null, 400));
      }
      onBody(body);
    });
  }
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function methodNotAllowed(res: ServerResponse): void {
  sendJson(res, 405, '{"detail":"Method Not Allowed"}');
}

function ignore(): void {}
