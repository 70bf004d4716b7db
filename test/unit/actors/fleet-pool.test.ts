/**
 * Fleet PoolActor - publishing its status while many hosts become ready, with in-memory ports and a
 * virtual clock: the first ready replica goes out at once, the others with the next heartbeat.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fleetPoolBehavior } from '../../../src/actors/fleet-pool.js';
import { startActorSystem } from '../../../src/actors/runtime.js';
import type { ActorSystem } from '../../../src/actors/types.js';
import { DEFAULT_STAGE_DEADLINES_MS } from '../../../src/policy/index.js';
import { FleetPoolSchema, subjects, type BlacklistEntry, type HostRecord, type PoolStatus, type Reputation } from '../../../src/protocols/index.js';
import { FakeProvider, ScriptedEngine, fakeExecutor, fakeOffer, memoryKv, passingReadiness, recordingBus, until } from '../../helpers/fleet-fakes.js';
import { VirtualClock } from '../../helpers/virtual-clock.js';

const MODEL = 'Qwen/Qwen2.5-1.5B-Instruct';
const HEARTBEAT_MS = 2_000;

let clock: VirtualClock;
let system: ActorSystem;

beforeEach(() => {
  clock = new VirtualClock();
  system = startActorSystem({ name: 'test', clock, log: pino({ level: 'silent' }) });
});

afterEach(async () => {
  await system.stop();
});

describe('fleet pool - status while hosts become ready', () => {
  it('fleet pool - publishes its first ready replica at once and the ones that join a serving pool with the next heartbeat', async () => {
    const pool = FleetPoolSchema.parse({ kind: 'fleet', id: 'gpu', model: MODEL, replicas: 3 });
    const { bus, published } = recordingBus();
    const reputation = memoryKv<Reputation>('drover_reputation');
    const engines = new Map<string, ScriptedEngine>();
    system.spawn(
      'pool-gpu',
      fleetPoolBehavior({
        pool,
        provider: new FakeProvider([fakeOffer(101, 0.2), fakeOffer(102, 0.3), fakeOffer(103, 0.4)]),
        bus,
        stores: { hosts: memoryKv<HostRecord>('drover_hosts'), blacklist: memoryKv<BlacklistEntry>('drover_blacklist'), reputation },
        nodeId: 'n1',
        strictness: async () => 'aggressive',
        reconcileMs: HEARTBEAT_MS,
        host: {
          executorFor: () => fakeExecutor(),
          readiness: passingReadiness,
          engineFor: (url) => engines.get(url) ?? engines.set(url, new ScriptedEngine(url, [MODEL])).get(url)!,
          deadlines: DEFAULT_STAGE_DEADLINES_MS,
          probeIntervalMs: HEARTBEAT_MS,
        },
      }),
      { kind: 'permanent' },
    );
    const statuses = (): PoolStatus[] => published.filter((p) => p.subject === subjects.poolStatus('gpu')).map((p) => p.payload as PoolStatus);
    // The pool records each ready host's reputation before it decides whether to publish.
    await until(() => reputation.rows.size === 3, 'three hosts to be ready');
    await until(() => statuses().some((s) => s.replicas.length === 1), 'the first replica to be published');
    await new Promise<void>((r) => setImmediate(r));
    expect(statuses().map((s) => s.replicas.length)).not.toContain(2);
    expect(statuses().map((s) => s.replicas.length)).not.toContain(3);
    clock.advance(HEARTBEAT_MS);
    await until(() => statuses().some((s) => s.replicas.length === 3), 'the heartbeat to publish all three');
    expect(statuses().filter((s) => s.replicas.length === 3)).toHaveLength(1);
    expect(statuses().at(-1)).toMatchObject({ state: 'ready', desired: 3 });
  });
});
