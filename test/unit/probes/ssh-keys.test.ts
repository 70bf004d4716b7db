import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateSshKeyPair, type SshKeyPair } from '../../../src/probes/index.js';

/**
 * A pair ssh2 1.17 generated and cannot read back: the public key lost its leading zero byte
 * (31 bytes, `AAAAHy…`). Test-only key material.
 */
const MALFORMED: SshKeyPair = {
  private: [
    '-----BEGIN OPENSSH PRIVATE KEY-----',
    'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMgAAAAtz',
    'c2gtZWQyNTUxOQAAAB8pmT7WxKfrxyF9n2ms3HgEH+8tUYvHB8KWk1MkFIsLAAAA',
    'iNZCHqXWQh6lAAAAC3NzaC1lZDI1NTE5AAAAHymZPtbEp+vHIX2faazceAQf7y1R',
    'i8cHwpaTUyQUiwsAAAA/VHMQRyvdSMEcDUFP1JQCmTHAdCnRf0lQcuW335A+gRgp',
    'mT7WxKfrxyF9n2ms3HgEH+8tUYvHB8KWk1MkFIsLAAAAAAECAwQFBgc=',
    '-----END OPENSSH PRIVATE KEY-----',
  ].join('\n'),
  public: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHymZPtbEp+vHIX2faazceAQf7y1Ri8cHwpaTUyQUiwsA',
};

describe('ssh keys - key pairs that ssh2 can read back', () => {
  it('ssh keys - the malformed pair really is refused by ssh2', () => {
    expect(ssh2.utils.parseKey(MALFORMED.private)).toBeInstanceOf(Error);
  });

  it('ssh keys - a pair that does not parse is generated again', () => {
    const good = ssh2.utils.generateKeyPairSync('ed25519');
    const outputs = [MALFORMED, MALFORMED, good];
    let calls = 0;
    const pair = generateSshKeyPair(() => outputs[calls++]!);
    expect(pair).toBe(good);
    expect(calls).toBe(3);
  });

  it('ssh keys - a generator that never gives a good pair is a clear error, not a bad key', () => {
    expect(() => generateSshKeyPair(() => MALFORMED)).toThrow(/could not generate an SSH key pair that parses \(16 attempts; last: Malformed OpenSSH private key\)/);
  });

  it('ssh keys - the default generator gives pairs whose halves parse', () => {
    for (let i = 0; i < 20; i++) {
      const pair = generateSshKeyPair();
      expect(ssh2.utils.parseKey(pair.private)).not.toBeInstanceOf(Error);
      expect(ssh2.utils.parseKey(pair.public)).not.toBeInstanceOf(Error);
    }
  });
});
