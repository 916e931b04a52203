/**
 * A self-signed TLS certificate for the HTTPS tests, made with `openssl` at test time (Debian has
 * it; `apt-get install openssl` otherwise). Clients trust it as their CA (`ca`, or
 * NODE_EXTRA_CA_CERTS in a child process): nothing turns certificate checks off.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Certificate {
  /** The temporary folder holding both files (remove it when done). */
  dir: string;
  /** PEM files of the certificate and its key. */
  cert: string;
  key: string;
}

/** A self-signed certificate for localhost and 127.0.0.1 (P-256, valid one day), in a new temporary folder. */
export function makeCertificate(): Certificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost'];
  const r = spawnSync('openssl', [...args, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`openssl could not make a certificate (apt-get install openssl): ${r.error?.message ?? r.stderr}`);
  return { dir, cert, key };
}

/**
 * `skip` option of a TLS suite: a reason when `openssl` is missing, with a loud warning; under
 * CI=true a failure instead, so CI cannot go green without the suite.
 */
export function skipWithoutOpenssl(): string | false {
  if (spawnSync('openssl', ['version']).status === 0) return false;
  if (process.env.CI === 'true') throw new Error('TLS tests: openssl not found, and CI=true: install it (apt-get install openssl)');
  console.warn(`\n${'!'.repeat(72)}\nSKIPPED: TLS tests: openssl not found (apt-get install openssl)\n${'!'.repeat(72)}\n`);
  return 'openssl not found';
}
