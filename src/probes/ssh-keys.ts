/**
 * SSH key pairs for the hosts Drover simulates and for the client key it gives them.
 *
 * ssh2 (1.17) sometimes writes an ed25519 key that it cannot read back: when the public key starts
 * with a zero byte it drops that byte, and the 31-byte key fails to parse ("Malformed OpenSSH
 * private key"), about one key in three hundred. A simulated sshd with such a host key never
 * listens, and a client with such a key never connects, so every host of that process fails. A
 * pair is therefore checked by parsing it, and generated again until it parses.
 */
import ssh2 from 'ssh2';

/** An OpenSSH key pair. */
export interface SshKeyPair {
  private: string;
  public: string;
}

/** Attempts before giving up; at ~0.3 % bad keys, never reached unless the generator is broken. */
const MAX_ATTEMPTS = 16;

/** A new ed25519 key pair that ssh2 can read back; `generate` is for tests. */
export function generateSshKeyPair(generate: () => SshKeyPair = () => ssh2.utils.generateKeyPairSync('ed25519')): SshKeyPair {
  let problem = '';
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const pair = generate();
    const priv = ssh2.utils.parseKey(pair.private);
    const pub = ssh2.utils.parseKey(pair.public);
    if (!(priv instanceof Error) && !(pub instanceof Error)) return pair;
    problem = (priv instanceof Error ? priv : (pub as Error)).message;
  }
  throw new Error(`could not generate an SSH key pair that parses (${MAX_ATTEMPTS} attempts; last: ${problem})`);
}
