import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Issued {
  certFile: string;
  keyFile: string;
  certPem: Buffer;
  keyPem: Buffer;
}

/**
 * testCa makes a throwaway P-256 CA in `dir` with openssl (testing only: its key sits beside it, valid one day) and
 * issues certificates from it, each with the given X.509 extensions (`subjectAltName=IP:127.0.0.1`, an EKU, …).
 */
export function testCa(dir: string): {
  caFile: string;
  caPem: Buffer;
  issue(name: string, extensions: string): Issued;
} {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string) => ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  key('ca');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=kmslab-test-ca', '-days', '1', '-out', 'ca.crt');
  return {
    caFile: join(dir, 'ca.crt'),
    caPem: readFileSync(join(dir, 'ca.crt')),
    issue(name, extensions) {
      key(name);
      writeFileSync(join(dir, `${name}.ext`), `${extensions}\n`);
      ssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=kmslab-${name}`, '-out', `${name}.csr`);
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      );
      const [certFile, keyFile] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
      return { certFile, keyFile, certPem: readFileSync(certFile), keyPem: readFileSync(keyFile) };
    },
  };
}
