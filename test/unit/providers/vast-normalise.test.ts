import { describe, expect, it } from 'vitest';
import { LaunchSpecSchema, VastShowInstanceResponseSchema } from '../../../src/protocols/offers.js';
import { encodeQuery, pythonJsonDumps } from '../../../src/providers/vast-http.js';
import {
  buildCreateBody,
  buildOfferQuery,
  decodeInstance,
  decodeOffers,
  showInstanceRows,
} from '../../../src/providers/vast-normalise.js';
import { renderOnstart } from '../../../src/providers/launch.js';

// reference/vast-api.md §3, "Small offer example" (verbatim).
const OFFERS_EXAMPLE = JSON.parse(`{"offers": [{"id": 12345678, "ask_contract_id": 12345678, "machine_id": 88888, "host_id": 55555,
  "gpu_name": "RTX 4090", "num_gpus": 1, "gpu_ram": 24564, "gpu_total_ram": 24564,
  "cpu_cores": 32, "cpu_cores_effective": 8.0, "cpu_ram": 64300, "disk_space": 120.5,
  "dph_total": 0.3467, "reliability2": 0.9951, "inet_up": 512.3, "inet_down": 870.1,
  "direct_port_count": 40, "cuda_max_good": 12.4, "driver_version": "550.54.14",
  "verified": true, "verification": "verified", "rentable": true, "rented": false,
  "geolocation": "Texas, US", "public_ipaddr": "203.0.113.7", "static_ip": true}]}`) as { offers: unknown[] };

// reference/vast-api.md §5, show-instance example (verbatim, `jupyter_token` shortened as in the doc).
const INSTANCE_EXAMPLE = JSON.parse(`{"instances": {
  "id": 883, "machine_id": 178, "host_id": 55555, "bundle_id": 617,
  "actual_status": "running", "intended_status": "running", "cur_state": "running", "next_state": "running",
  "status_msg": "success, running nvidia/cuda_11.0.3-devel-ubuntu18.04/ssh",
  "label": null, "image_uuid": "vllm/vllm-openai:latest", "image_args": [], "image_runtype": "args",
  "extra_env": [["HF_TOKEN", "hf_xxx"], ["-p 8000:8000", "1"]],
  "onstart": null, "jupyter_token": "53fc…",
  "ssh_host": "ssh2281.vast.ai", "ssh_port": 10882, "ssh_idx": "2281", "machine_dir_ssh_port": 5300,
  "public_ipaddr": "63.135.50.11", "local_ipaddrs": "10.2.202.31 172.17.0.1 \\n",
  "ports": {"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}],
            "22/tcp":   [{"HostIp": "0.0.0.0", "HostPort": "41210"}]},
  "direct_port_start": 41200, "direct_port_end": 41299, "direct_port_count": 12,
  "gpu_name": "RTX A5000", "num_gpus": 1, "gpu_ram": 24564, "gpu_totalram": 24564, "gpu_util": null, "gpu_temp": null,
  "cuda_max_good": 12.4, "driver_version": "550.54.14",
  "cpu_cores": 32, "cpu_cores_effective": 4, "cpu_ram": 128576, "disk_space": 10,
  "dph_total": 0.2345, "reliability2": 0.995, "inet_up": 500.0, "inet_down": 800.0,
  "start_date": 1761008618.225083, "end_date": 2034617753, "uptime_mins": null,
  "template_id": null, "template_hash_id": null, "template_name": null
}}`) as { instances: Record<string, unknown> };

const example = (): Record<string, unknown> => structuredClone(INSTANCE_EXAMPLE.instances);

describe('vast normalise - offers', () => {
  it('vast normalise - the docs offer example becomes an Offer', () => {
    const { offers, skipped } = decodeOffers(OFFERS_EXAMPLE.offers);
    expect(skipped).toBe(0);
    expect(offers).toEqual([
      {
        offer_id: '12345678',
        provider_host_id: '55555',
        machine_id: '88888',
        gpu_name: 'RTX 4090',
        num_gpus: 1,
        gpu_ram_mb: 24564,
        reliability: 0.9951,
        dph_total: 0.3467,
        direct_port_count: 40,
        cuda_max_good: 12.4,
        driver_version: '550.54.14',
        verified: true,
        rentable: true,
        geolocation: 'Texas, US',
        inet_down: 870.1,
      },
    ]);
  });

  it('vast normalise - bad rows are skipped, rented rows dropped, numbers as strings accepted', () => {
    const good = OFFERS_EXAMPLE.offers[0] as Record<string, unknown>;
    const rows = [
      { ...good, id: '777', dph_total: '0.5' },
      { ...good, id: 2, rented: true },
      { ...good, id: 3, gpu_name: undefined },
      { ...good, id: 4, num_gpus: 0 },
      'not an object',
    ];
    const { offers, skipped, firstIssue } = decodeOffers(rows);
    expect(offers.map((o) => [o.offer_id, o.dph_total])).toEqual([['777', 0.5]]);
    expect(skipped).toBe(3);
    expect(firstIssue).toBeTypeOf('string');
  });

  it('vast normalise - reliability falls back to reliability, verified to verification', () => {
    const { reliability2: _r, verified: _v, ...rest } = OFFERS_EXAMPLE.offers[0] as Record<string, unknown>;
    const [offer] = decodeOffers([{ ...rest, reliability: 0.97 }]).offers;
    expect(offer?.reliability).toBe(0.97);
    expect(offer?.verified).toBe(true);
  });

  it('vast normalise - the search query carries the CLI defaults and one op per bound', () => {
    expect(
      buildOfferQuery({ gpu_names: ['RTX 4090', 'RTX 3090'], min_gpu_ram_mb: 16_000, num_gpus: 1, max_dph: 0.5, min_reliability: 0.98, min_direct_ports: 8, limit: 10 }),
    ).toEqual({
      verified: { eq: true },
      external: { eq: false },
      rentable: { eq: true },
      rented: { eq: false },
      num_gpus: { eq: 1 },
      gpu_ram: { gte: 16_000 },
      gpu_name: { in: ['RTX 4090', 'RTX 3090'] },
      reliability2: { gte: 0.98 },
      direct_port_count: { gte: 8 },
      dph_total: { lte: 0.5 },
      order: [['dph_total', 'asc']],
      type: 'on-demand',
      limit: 10,
    });
    expect(buildOfferQuery({ gpu_names: [] })).not.toHaveProperty('gpu_name');
  });
});

describe('vast normalise - instances', () => {
  it('vast normalise - the docs instance example prefers direct SSH and maps ports', () => {
    const rows = showInstanceRows(VastShowInstanceResponseSchema.parse(INSTANCE_EXAMPLE).instances, '883');
    expect(rows).toHaveLength(1);
    expect(decodeInstance(rows[0])).toEqual({
      instance_id: '883',
      provider_host_id: '55555',
      machine_id: '178',
      status: 'running',
      status_msg: 'success, running nvidia/cuda_11.0.3-devel-ubuntu18.04/ssh',
      ssh: { host: '63.135.50.11', port: 41210, user: 'root' },
      public_ip: '63.135.50.11',
      ports: { '8000/tcp': { host: '63.135.50.11', port: 41234 }, '22/tcp': { host: '63.135.50.11', port: 41210 } },
      gpu_name: 'RTX A5000',
      dph_total: 0.2345,
      start_date: 1761008618.225083,
    });
  });

  it('vast normalise - HostPort as an int and a specific HostIp', () => {
    const info = decodeInstance({ ...example(), ports: { '8000/tcp': [{ HostIp: '10.0.0.5', HostPort: 41234 }], '8081/udp': [{ HostIp: '0.0.0.0', HostPort: '1' }] } });
    expect(info.ports).toEqual({ '8000/tcp': { host: '10.0.0.5', port: 41234 } });
    // No 22/tcp: SSH goes through the proxy.
    expect(info.ssh).toEqual({ host: 'ssh2281.vast.ai', port: 10882, user: 'root' });
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['empty', {}],
    ['a list (docs example)', [8080, 8081]],
    ['a key with null bindings', { '8000/tcp': null }],
    ['an unusable HostPort', { '8000/tcp': [{ HostIp: '0.0.0.0', HostPort: 'abc' }] }],
  ])('vast normalise - ports %s → {} and proxy SSH', (_name, ports) => {
    const row = example();
    if (ports === undefined) delete row.ports;
    else row.ports = ports;
    const info = decodeInstance(row);
    expect(info.ports).toEqual({});
    expect(info.ssh).toEqual({ host: 'ssh2281.vast.ai', port: 10882, user: 'root' });
  });

  it('vast normalise - actual_status null is provisioning, unlisted values unknown', () => {
    expect(decodeInstance({ ...example(), actual_status: null, ports: {} }).status).toBe('provisioning');
    expect(decodeInstance({ id: 5, actual_status: undefined }).status).toBe('provisioning');
    expect(decodeInstance({ ...example(), actual_status: 'scheduling' }).status).toBe('unknown');
    expect(decodeInstance({ ...example(), actual_status: 'exited' }).status).toBe('exited');
  });

  it('vast normalise - a sparse row (no SSH yet, no public IP) decodes', () => {
    const info = decodeInstance({ id: 9, actual_status: null, ssh_host: null, ssh_port: null, public_ipaddr: null, ports: { '8000/tcp': [{ HostIp: '0.0.0.0', HostPort: '1' }] }, label: 'drover-x' });
    expect(info).toEqual({ instance_id: '9', provider_host_id: '', status: 'provisioning', ports: {}, label: 'drover-x' });
  });

  it('vast normalise - instances null, an object and an array', () => {
    expect(showInstanceRows(VastShowInstanceResponseSchema.parse({ instances: null }).instances, '1')).toEqual([]);
    const a = { id: 1 };
    const b = { id: 2 };
    expect(showInstanceRows([a, b], '2')).toEqual([b]);
    expect(showInstanceRows([a], '3')).toEqual([a]);
    expect(showInstanceRows(a, '1')).toEqual([a]);
    expect(VastShowInstanceResponseSchema.safeParse({ instance: {} }).success).toBe(false);
  });

  it('vast normalise - a row that is not an instance throws', () => {
    expect(() => decodeInstance({ id: 'x' })).toThrow(/instance row/);
  });
});

describe('vast normalise - create body and query strings', () => {
  it('vast normalise - the create body is the CLI body with runtype ssh, port env and the rendered onstart', () => {
    const launch = LaunchSpecSchema.parse({ env: { HF_TOKEN: 'hf_x' }, engine_args: ['--max-model-len', '4096'], disk_gb: 20 });
    const body = buildCreateBody(launch, 'drover-p1-h1', 'TinyLlama/TinyLlama-1.1B-Chat-v1.0');
    expect(body).toMatchObject({
      client_id: 'me',
      image: 'vllm/vllm-openai:latest',
      env: { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: '60', HF_TOKEN: 'hf_x', '-p 8000:8000': '1' },
      price: null,
      disk: 20,
      label: 'drover-p1-h1',
      runtype: 'ssh',
      onstart: 'nohup vllm serve TinyLlama/TinyLlama-1.1B-Chat-v1.0 --host 0.0.0.0 --port 8000 --max-model-len 4096 > /tmp/vllm.log 2>&1 &',
    });
    expect(body).not.toHaveProperty('args');
  });

  it('vast normalise - onstart placeholders, quoting and custom ports', () => {
    const launch = LaunchSpecSchema.parse({ onstart: 'serve {model} {engine_args} --port={port}', port: 9000, engine_args: ["--chat-template=it's"] });
    expect(renderOnstart(launch, 'org/model')).toBe(`serve org/model '--chat-template=it'\\''s' --port=9000`);
    expect(renderOnstart(LaunchSpecSchema.parse({ onstart: 'run', engine_args: ['-x'] }), 'm')).toBe('run -x');
  });

  it('vast normalise - query values are encoded like quote_plus(json.dumps(v))', () => {
    expect(pythonJsonDumps([{ col: 'id', dir: 'asc' }])).toBe('[{"col": "id", "dir": "asc"}]');
    expect(pythonJsonDumps({ a: 'é' })).toBe('{"a": "\\u00e9"}');
    expect(encodeQuery({ select_filters: {}, order_by: [{ col: 'id', dir: 'asc' }], limit: 25, owner: 'me' })).toBe(
      '?select_filters=%7B%7D&order_by=%5B%7B%22col%22%3A+%22id%22%2C+%22dir%22%3A+%22asc%22%7D%5D&limit=25&owner=me',
    );
  });
});
