/**
 * Ports for simulated hosts. A host's SSH and engine ports are fixed when it is created (the
 * provider API and a fleet file name them) but bound only later, when its container starts and
 * its engine listens. Ports from `bind(0)` come from the kernel's ephemeral range, where every
 * other `bind(0)` on the machine (nats-servers, test servers, other simulators) may be handed the
 * same port in between; a host would then fail for a reason no real host has. So the simulator
 * picks its ports below that range, where the kernel never hands out a port by itself.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** Lowest port a simulated host is given. */
const SIM_PORT_MIN = 10_000;
/** Where Linux's ephemeral range starts by default, if it cannot be read. */
const DEFAULT_EPHEMERAL_LOW = 32_768;
/** Random ports tried per wanted port before giving up on the range and taking any free port. */
const TRIES_PER_PORT = 50;

/** The first port of the kernel's ephemeral range. */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : DEFAULT_EPHEMERAL_LOW;
  } catch {
    return DEFAULT_EPHEMERAL_LOW;
  }
}

/**
 * `count` distinct ports on 127.0.0.1 that are free now, below the ephemeral range when it leaves
 * room (else any free port). They are held together while chosen, then released for the caller.
 */
export async function simPorts(count: number): Promise<number[]> {
  const high = ephemeralLow() - 1;
  const held: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      let server: Server | undefined;
      for (let t = 0; server === undefined && high > SIM_PORT_MIN && t < TRIES_PER_PORT; t++) {
        server = await tryListen(SIM_PORT_MIN + Math.floor(Math.random() * (high - SIM_PORT_MIN + 1)));
      }
      server ??= await tryListen(0);
      if (server === undefined) throw new Error('no free TCP port on 127.0.0.1');
      held.push(server);
    }
    return held.map((s) => {
      const address = s.address();
      return address !== null && typeof address === 'object' ? address.port : 0;
    });
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** A server listening on `port`, or undefined when the port is taken. */
async function tryListen(port: number): Promise<Server | undefined> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
