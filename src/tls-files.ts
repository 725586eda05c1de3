import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { ConfigError, type TlsConfig } from './config';

// The PEM files behind TLS_CERT_FILE, TLS_KEY_FILE and PBX_CA_FILE, read and checked once at start so
// that a wrong file stops the start with one line naming its setting, not with an OpenSSL trace at the
// first connection. Messages name the file and the reason, never its content.

/** What the HTTPS listener is made with. */
export interface ListenerCredentials {
  readonly cert: string;
  readonly key: string;
  /** When the (first) certificate expires. */
  readonly validTo: Date;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function reason(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  return code ?? message ?? 'unknown error';
}

function readText(setting: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${setting}: cannot read ${file} (${reason(error)})`);
  }
}

/** The PEM certificates in `text`, each parsed; a ConfigError naming `setting` when there are none or one does not parse. */
function certificates(setting: string, file: string, text: string): X509Certificate[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${setting}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(`${setting}: certificate ${index + 1} in ${file} does not parse (${reason(error)})`);
    }
  });
}

/** The HTTPS listener's certificate (chain) and key, or null when TLS is off (validateConfig made sure both or neither are set). */
export function readListenerCredentials(settings: TlsConfig): ListenerCredentials | null {
  if (settings.certFile === '' && settings.keyFile === '') return null;
  const cert = readText('TLS_CERT_FILE', settings.certFile);
  const [leaf] = certificates('TLS_CERT_FILE', settings.certFile, cert);
  const key = readText('TLS_KEY_FILE', settings.keyFile);
  try {
    createPrivateKey(key);
  } catch (error) {
    throw new ConfigError(`TLS_KEY_FILE: ${settings.keyFile} is not an unencrypted PEM private key (${reason(error)})`);
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (error) {
    throw new ConfigError(`TLS_KEY_FILE: the key in ${settings.keyFile} does not go with the certificate in ${settings.certFile} (${reason(error)})`);
  }
  return { cert, key, validTo: new Date(leaf.validTo) };
}

/**
 * The CA bundle of PBX_CA_FILE, for the PBX client's https agent: the system's roots and these
 * certificates (Node's `ca` option replaces the roots, so they are put back here).
 */
export function readPbxTrust(caFile: string): string[] {
  const text = readText('PBX_CA_FILE', caFile);
  certificates('PBX_CA_FILE', caFile, text);
  return [...tls.rootCertificates, text];
}
