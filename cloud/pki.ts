import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { writePrivate } from './private-file.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** ServerPki is a private CA and a server certificate it signed, as files (0600, in a 0700 dir). */
export interface ServerPki {
  /** The CA certificate a client trusts (Go: SSL_CERT_FILE; curl: --cacert). */
  caFile: string;
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** The names and addresses the server certificate covers. */
  names: string[];
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/**
 * serverPki returns the CA and server certificate kept in `dir`, making them the first time (or when the names the
 * server must answer to changed). A restart keeps the same CA, so clients that trust it keep working. Testing only:
 * the CA's key sits beside it, and the certificates say so.
 */
export async function serverPki(dir: string, names: string[]): Promise<ServerPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
  const namesFile = join(dir, 'server-names.json');
  const wanted = JSON.stringify([...names].sort());
  try {
    if ((await readFile(namesFile, 'utf8')) === wanted && (await stat(files.caFile)).isFile()) {
      const [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')]);
      if (!expiresWithin(cert, 7 * DAY)) return { ...files, cert, key, names };
    }
  } catch {
    // not made yet, or incomplete: make it again
  }
  const now = Date.now();
  const caKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=kmslab cloud emulator CA (testing only), O=kmslab',
    keys: caKeys,
    signingAlgorithm: SIGN,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 825 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const server = await x509.X509CertificateGenerator.create({
    subject: `CN=${names[0] ?? 'localhost'}, O=kmslab (testing only)`,
    issuer: ca.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGN,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 397 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => ({ type: /^[\d.]+$|:/.test(n) ? 'ip' : 'dns', value: n }) as const),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const key = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', serverKeys.privateKey));
  const cert = server.toString('pem') + '\n';
  await writePrivate(files.caFile, ca.toString('pem') + '\n');
  await writePrivate(files.certFile, cert);
  await writePrivate(files.keyFile, key);
  await writePrivate(namesFile, wanted);
  return { ...files, cert, key, names };
}

function expiresWithin(certPem: string, ms: number): boolean {
  return new x509.X509Certificate(certPem).notAfter.getTime() - Date.now() < ms;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}
