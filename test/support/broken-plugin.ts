// A small KMS v2 plugin written apart from kmslab's fake KMS, correct by default, that breaks exactly one rule when
// asked (--break <rule>): the mutants conformance must catch. State lives in a JSON file beside the socket, so the
// hooks (rotate, disable, enable) are this script's other subcommands and a restart keeps the keys.
//   serve --socket S [--break RULE]      rotate | disable <keyId> | enable <keyId>   (state: $KMSLAB_PLUGIN_SOCKET's dir)
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { KeyManagementServiceService } from '../../gen/kms/v2/service.js';

export const MUTATIONS = [
  'status-error',
  'version-v1',
  'version-v2beta1',
  'healthz-not-ok',
  'empty-key-id',
  'long-key-id',
  'flapping-key-id',
  'encrypt-other-key-id',
  'big-ciphertext',
  'bad-annotation-key',
  'huge-annotations',
  'wrong-plaintext',
  'deterministic',
  'unauthenticated',
  'ignores-key-id',
  'unknown-errors',
  'empty-uid-ok',
  'empty-plaintext-internal',
  'slow',
  'slowish-decrypt',
  'serial',
  'reuses-key-id',
  'rotation-loses-old-keys',
  'disable-ignored',
  'disabled-says-ok',
  'enable-ignored',
  'forgets-on-restart',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

interface Key {
  id: string;
  secret: string;
  enabled: boolean;
}
interface State {
  keys: Key[];
  current: string;
  rotations: number;
}

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const command = args[0];
const socket = flag('--socket') ?? process.env.KMSLAB_PLUGIN_SOCKET ?? '';
const stateFile = join(dirname(socket), 'broken-plugin-state.json');
const rule = flag('--break') as Mutation | undefined;

const newKey = (n: number): Key => ({
  id: `bk-${n}-${randomBytes(3).toString('hex')}`,
  secret: randomBytes(32).toString('hex'),
  enabled: true,
});
const load = (): State => {
  if (!existsSync(stateFile)) save(fresh());
  return JSON.parse(readFileSync(stateFile, 'utf8')) as State;
};
const save = (s: State) => {
  writeFileSync(`${stateFile}.tmp`, JSON.stringify(s), { mode: 0o600 });
  renameSync(`${stateFile}.tmp`, stateFile);
};
function fresh(): State {
  const k = newKey(1);
  return { keys: [k], current: k.id, rotations: 1 };
}

class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
const refuse = (code: number, message: string) => {
  if (rule === 'unknown-errors') throw new Refusal(status.UNKNOWN, '');
  throw new Refusal(code, message);
};

let statusCalls = 0;
let inFlight = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function handleStatus() {
  if (rule === 'status-error') refuse(status.UNAVAILABLE, 'backend unreachable');
  if (rule === 'slow') await sleep(1100);
  const s = load();
  const key = s.keys.find((k) => k.id === s.current)!;
  let keyId = key.id;
  if (rule === 'empty-key-id') keyId = '';
  if (rule === 'long-key-id') keyId = 'k'.repeat(1025);
  if (rule === 'flapping-key-id') keyId = `${key.id}-${statusCalls++ % 2}`;
  const healthy = key.enabled || rule === 'disabled-says-ok';
  const version = rule === 'version-v1' ? 'v1' : rule === 'version-v2beta1' ? 'v2beta1' : 'v2';
  return { version, healthz: rule === 'healthz-not-ok' ? 'degraded' : healthy ? 'ok' : 'key disabled', keyId };
}

function seal(key: Key, plaintext: Buffer): Buffer {
  const nonce =
    rule === 'deterministic' ? createHash('sha256').update(plaintext).digest().subarray(0, 12) : randomBytes(12);
  if (rule === 'unauthenticated') {
    const c = createCipheriv('aes-256-ctr', Buffer.from(key.secret, 'hex'), Buffer.concat([nonce, Buffer.alloc(4)]));
    return Buffer.concat([nonce, c.update(plaintext), c.final()]);
  }
  const c = createCipheriv('aes-256-gcm', Buffer.from(key.secret, 'hex'), nonce);
  c.setAAD(Buffer.from(key.id));
  return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
}

function open(key: Key, ciphertext: Buffer): Buffer {
  const nonce = ciphertext.subarray(0, 12);
  if (rule === 'unauthenticated') {
    const d = createDecipheriv('aes-256-ctr', Buffer.from(key.secret, 'hex'), Buffer.concat([nonce, Buffer.alloc(4)]));
    return Buffer.concat([d.update(ciphertext.subarray(12)), d.final()]);
  }
  const d = createDecipheriv('aes-256-gcm', Buffer.from(key.secret, 'hex'), nonce);
  d.setAAD(Buffer.from(key.id));
  d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  return Buffer.concat([d.update(ciphertext.subarray(12, ciphertext.length - 16)), d.final()]);
}

async function handleEncrypt(req: { plaintext: Buffer; uid: string }) {
  if (rule === 'slow') await sleep(1100);
  if (!req.uid && rule !== 'empty-uid-ok') refuse(status.INVALID_ARGUMENT, 'uid is required');
  if (req.plaintext.length === 0) {
    if (rule === 'empty-plaintext-internal') throw new Refusal(status.INTERNAL, 'panic: index out of range');
    refuse(status.INVALID_ARGUMENT, 'plaintext is empty');
  }
  const s = load();
  const key = s.keys.find((k) => k.id === s.current)!;
  if (!key.enabled) refuse(status.FAILED_PRECONDITION, `key ${key.id} is disabled`);
  let ciphertext = seal(key, req.plaintext);
  if (rule === 'big-ciphertext') ciphertext = Buffer.concat([ciphertext, Buffer.alloc(2000)]);
  const annotations: Record<string, Buffer> =
    rule === 'bad-annotation-key'
      ? { 'Not A DNS Name': Buffer.from('1') }
      : rule === 'huge-annotations'
        ? { 'pad.broken.test': Buffer.alloc(40 * 1024, 1) }
        : { 'version.broken.test': Buffer.from('1') };
  return { ciphertext, keyId: rule === 'encrypt-other-key-id' ? `${key.id}-other` : key.id, annotations };
}

async function handleDecrypt(req: { ciphertext: Buffer; keyId: string; uid: string }) {
  if (rule === 'slow') await sleep(1100);
  if (rule === 'slowish-decrypt') await sleep(50);
  if (rule === 'serial') {
    if (inFlight >= 8) refuse(status.RESOURCE_EXHAUSTED, 'too many requests');
    inFlight++;
    await sleep(20);
    inFlight--;
  }
  if (!req.uid && rule !== 'empty-uid-ok') refuse(status.INVALID_ARGUMENT, 'uid is required');
  const s = load();
  const ciphertext =
    rule === 'big-ciphertext' ? req.ciphertext.subarray(0, req.ciphertext.length - 2000) : req.ciphertext;
  const candidates = rule === 'ignores-key-id' ? s.keys : s.keys.filter((k) => k.id === req.keyId);
  if (candidates.length === 0) refuse(status.NOT_FOUND, `unknown key_id ${req.keyId}`);
  for (const key of candidates) {
    if (!key.enabled) refuse(status.FAILED_PRECONDITION, `key ${key.id} is disabled`);
    try {
      const plaintext = open(key, ciphertext);
      if (rule === 'wrong-plaintext' && plaintext.length) plaintext[plaintext.length - 1]! ^= 1;
      return { plaintext };
    } catch {
      // try the next key (ignores-key-id), else refuse below
    }
  }
  return refuse(status.INVALID_ARGUMENT, 'ciphertext does not authenticate');
}

const unary =
  <Req, Res>(fn: (req: Req) => Promise<Res>) =>
  (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
    fn(call.request).then(
      (r) => cb(null, r),
      (e: Refusal) => cb({ code: e.code ?? status.INTERNAL, details: e.message }),
    );
  };

if (command === 'serve') {
  // This mutant keeps its keys only while it runs: every start begins with new ones.
  if (rule === 'forgets-on-restart') rmSync(stateFile, { force: true });
  const server = new Server();
  server.addService(KeyManagementServiceService, {
    status: unary(handleStatus),
    encrypt: unary(handleEncrypt),
    decrypt: unary(handleDecrypt),
  });
  server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (error) => {
    if (error) throw error;
  });
  process.once('SIGTERM', () => server.forceShutdown());
} else if (command === 'rotate') {
  const s = load();
  s.rotations++;
  const key = rule === 'reuses-key-id' && s.rotations > 2 ? s.keys[0]! : newKey(s.rotations);
  if (rule === 'rotation-loses-old-keys') s.keys = [];
  if (!s.keys.includes(key)) s.keys.push(key);
  s.current = key.id;
  save(s);
} else if (command === 'disable' || command === 'enable') {
  const s = load();
  const key = s.keys.find((k) => k.id === args[1]);
  if (!key) {
    process.stderr.write(`no key ${args[1]}\n`);
    process.exit(1);
  }
  if (!(rule === 'disable-ignored' && command === 'disable') && !(rule === 'enable-ignored' && command === 'enable')) {
    key.enabled = command === 'enable';
  }
  save(s);
}
