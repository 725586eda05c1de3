import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Self-signed certificates made with openssl for the TLS tests, each in a temporary directory of its own.

export interface TestCertificate {
  readonly directory: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/** A self-signed certificate for 127.0.0.1 (CN and subjectAltName), valid one day, and its key. */
export function makeCertificate(name = 'server'): TestCertificate {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), `pbxgw-tls-${name}-`));
  const certFile = path.join(directory, `${name}.crt`);
  const keyFile = path.join(directory, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  );
  return { directory, certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}

export function removeCertificate(certificate: TestCertificate | undefined): void {
  if (certificate) fs.rmSync(certificate.directory, { recursive: true, force: true });
}
