/**
 * The simulated Vast.ai marketplace: a node:http server on 127.0.0.1 that speaks the Vast REST
 * endpoints Drover uses (search, rent, show, list, destroy) over a scenario's offers, and starts a
 * SimHost (through the injected factory) behind every instance it creates. VastProvider talks to it
 * exactly as to console.vast.ai.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleRequest, type RoutesContext } from './marketplace-routes.js';
import { MarketplaceState } from './marketplace-state.js';
import type { CannedResponse, SimInstanceSummary, SimMarketplace, SimMarketplaceFaults, SimMarketplaceOptions, SimOfferSummary } from './marketplace-types.js';
import { ScenarioSchema } from './scenario.js';

/** Starts a simulated marketplace; resolves once it listens. */
export async function startSimMarketplace(opts: SimMarketplaceOptions): Promise<SimMarketplace> {
  const state = new MarketplaceState({
    scenario: ScenarioSchema.parse(opts.scenario),
    hostFactory: opts.hostFactory,
    authorizedKeys: opts.authorizedKeys,
    timeScale: opts.timeScale,
    now: opts.now ?? Date.now,
    logger: opts.logger,
  });
  const faults: SimMarketplaceFaults = opts.rateLimitEvery === undefined ? {} : { rateLimitEvery: opts.rateLimitEvery };
  const ctx: RoutesContext = { state, apiKey: opts.apiKey, faults, canned: [], log: opts.logger, requests: 0 };
  const server = createServer((req, res) => void handleRequest(ctx, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  opts.logger.debug({ port, offers: opts.scenario.offers.length }, 'sim marketplace listening');
  return new RunningMarketplace(`http://127.0.0.1:${port}`, server, state, ctx);
}

class RunningMarketplace implements SimMarketplace {
  private closing: Promise<void> | undefined;

  constructor(
    readonly url: string,
    private readonly server: Server,
    private readonly state: MarketplaceState,
    private readonly ctx: RoutesContext,
  ) {}

  get faults(): SimMarketplaceFaults {
    return this.ctx.faults;
  }

  instances(): SimInstanceSummary[] {
    return this.state.summaries();
  }

  offers(): SimOfferSummary[] {
    return this.state.offerSummaries();
  }

  requestCount(): number {
    return this.ctx.requests;
  }

  injectResponses(...responses: CannedResponse[]): void {
    this.ctx.canned.push(...responses);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await this.state.close();
    this.server.closeAllConnections();
    await stopped;
  }
}
