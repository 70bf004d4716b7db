import { describe, expect, it } from 'vitest';
import { LaunchSpecSchema } from '../../../src/protocols/index.js';
import { ENGINE_KEEP_ALIVE_S, ENGINE_KEEP_ALIVE_VAR, engineKeepAliveMs } from '../../../src/providers/index.js';
import { engineEnv, vastEnv } from '../../../src/providers/launch.js';

describe('launch - the engine keep-alive', () => {
  it('launch - an engine is launched with a 60 s keep-alive unless launch.env sets its own', () => {
    const plain = LaunchSpecSchema.parse({ env: { HF_TOKEN: 'hf_x' } });
    expect(engineEnv(plain)).toEqual({ [ENGINE_KEEP_ALIVE_VAR]: String(ENGINE_KEEP_ALIVE_S), HF_TOKEN: 'hf_x' });
    expect(engineKeepAliveMs(plain)).toBe(60_000);
    expect(vastEnv(plain)).toEqual({ VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '60', HF_TOKEN: 'hf_x', '-p 8000:8000': '1' });
    const own = LaunchSpecSchema.parse({ env: { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '20' } });
    expect(engineEnv(own)).toEqual({ VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '20' });
    expect(engineKeepAliveMs(own)).toBe(20_000);
  });

  it('launch - a keep-alive that is not whole seconds counts as uvicorn default 5 s', () => {
    expect(engineKeepAliveMs(LaunchSpecSchema.parse({ env: { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '1.5' } }))).toBe(5_000);
    expect(engineKeepAliveMs(LaunchSpecSchema.parse({ env: { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '' } }))).toBe(5_000);
  });
});
