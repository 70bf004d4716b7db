import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ephemeralLow, simPorts } from '../../../src/sim/ports.js';

async function bindable(port: number): Promise<boolean> {
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => server.close(() => resolve()));
  return ok;
}

describe('sim ports', () => {
  it('gives distinct free ports below the kernel ephemeral range, where no bind(0) can take them meanwhile', async () => {
    const low = ephemeralLow();
    for (let round = 0; round < 20; round++) {
      const ports = await simPorts(3);
      expect(new Set(ports).size).toBe(3);
      for (const port of ports) {
        expect(port).toBeGreaterThanOrEqual(10_000);
        expect(port).toBeLessThan(low);
        expect(await bindable(port)).toBe(true);
      }
    }
  });
});
