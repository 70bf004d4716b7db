/**
 * Every NATS subject Drover uses (DESIGN §4). Nothing else builds subject strings.
 */
export const SUBJECT_PREFIX = 'drover';

/** Ids that go into a subject token must not contain `.`, `*`, `>` or whitespace. */
const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

export function assertSubjectToken(token: string): string {
  if (!TOKEN_RE.test(token)) throw new Error(`not a valid subject token: ${JSON.stringify(token)}`);
  return token;
}

export const subjects = {
  /** request/reply, queue group `placement`: admission result or typed error. */
  tasksSubmit: 'drover.tasks.submit',
  /** publish: TaskEvents of one task. */
  taskEvents: (taskId: string) => `drover.tasks.${assertSubjectToken(taskId)}.events`,
  /** wildcard for the events stream. */
  allTaskEvents: 'drover.tasks.*.events',
  /** request/reply: cancel one task. */
  taskCancel: (taskId: string) => `drover.tasks.${assertSubjectToken(taskId)}.cancel`,
  allTaskCancels: 'drover.tasks.*.cancel',
  /** publish: host lifecycle transitions (fleet issue). */
  hostState: (hostId: string) => `drover.hosts.${assertSubjectToken(hostId)}.state`,
  allHostStates: 'drover.hosts.*.state',
  /** publish: pool status from PoolActors. */
  poolStatus: (poolId: string) => `drover.pools.${assertSubjectToken(poolId)}.status`,
  allPoolStatus: 'drover.pools.*.status',
  /** publish: operator control of one pool (scale, drain). */
  poolControl: (poolId: string) => `drover.pools.${assertSubjectToken(poolId)}.control`,
  /** request/reply: pool views (placement answers). */
  poolsQuery: 'drover.pools.query',
} as const;

/** Extracts the task id from `drover.tasks.<id>.<verb>`. */
export function taskIdFromSubject(subject: string): string | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'drover' || parts[1] !== 'tasks') return undefined;
  return parts[2];
}

export const QUEUE_GROUPS = { placement: 'placement' } as const;

export const KV_BUCKETS = {
  tasks: 'drover_tasks',
  pools: 'drover_pools',
  hosts: 'drover_hosts',
  reputation: 'drover_reputation',
  blacklist: 'drover_blacklist',
  catalog: 'drover_catalog',
  settings: 'drover_settings',
} as const;

export const STREAMS = {
  events: { name: 'DROVER_EVENTS', subjects: ['drover.tasks.*.events', 'drover.hosts.*.state'] },
} as const;
