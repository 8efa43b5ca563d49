// A small KMS v2 plugin written apart from kmslab's fake KMS, correct by default, that breaks exactly one rule when
// asked (--break <rule>): the mutants conformance must catch, each by the one check that guards the rule. State lives
// in a JSON file beside the socket, so the hooks (rotate, disable, enable) are this script's other subcommands and a
// restart keeps the keys.
//   serve --socket S [--break RULE]      rotate | disable <keyId> | enable <keyId>   (state: $KMSLAB_PLUGIN_SOCKET's dir)
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { KeyManagementServiceService, type EncryptResponse, type StatusResponse } from '../../gen/kms/v2/service.js';

export const MUTATIONS = [
  'status-error',
  'version-v1',
  'version-v2beta1',
  'healthz-not-ok',
  'empty-key-id',
  'long-key-id',
  'flapping-key-id',
  'invalid-utf8-key-id',
  'encrypt-other-key-id',
  'big-ciphertext',
  'bad-annotation-key',
  'huge-annotations',
  'wrong-plaintext',
  'deterministic',
  'unauthenticated',
  'unchecked-trailer',
  'ignores-key-id',
  'unknown-errors',
  'crash-on-empty-plaintext',
  'slow',
  'slowish-decrypt',
  'serial',
  'reuses-key-id',
  'rotation-loses-old-keys',
  'disable-ignored',
  'panic-after-disable',
  'disabled-says-ok',
  'cached-health',
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

// invalid-utf8-key-id: every key_id goes out with half a UTF-8 character at its end (a cut-off error text, say);
// a lenient client reads it as U+FFFD and sends that back, which is taken off again here.
const CUT = Buffer.of(0xc3);
const ours = (keyId: string) => (rule === 'invalid-utf8-key-id' ? keyId.replace(/\ufffd$/, '') : keyId);

const newKey = (n: number): Key => ({
  id: `bk-${n}-${randomBytes(3).toString('hex')}`,
  secret: randomBytes(32).toString('hex'),
  enabled: true,
});
// The hooks change the state from other processes (a rename, so a new inode); between changes it is read from memory,
// which keeps each call well under the 10 ms the latency checks aim for on a busy machine.
let cache: { ino: number; mtimeMs: number; state: State } | undefined;
const load = (): State => {
  if (!existsSync(stateFile)) save(fresh());
  const { ino, mtimeMs } = statSync(stateFile);
  if (cache?.ino !== ino || cache.mtimeMs !== mtimeMs)
    cache = { ino, mtimeMs, state: JSON.parse(readFileSync(stateFile, 'utf8')) as State };
  return cache.state;
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
const refuse = (code: number, message: string): never => {
  if (rule === 'unknown-errors') throw new Refusal(status.UNKNOWN, '');
  throw new Refusal(code, message);
};

// What a Go plugin does on a panic: the message and a stack on stderr, exit code 2, calls in flight never answered.
function panic(message: string): never {
  process.stderr.write(`panic: ${message}\n\ngoroutine 1 [running]:\nmain.encrypt(...)\n\t/src/plugin/main.go:42\n`);
  process.exit(2);
}

let statusCalls = 0;
let inFlight = 0;
const statusTimes: number[] = [];
let health: { at: number; healthz: string } | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function handleStatus(): Promise<StatusResponse> {
  if (rule === 'status-error') refuse(status.UNAVAILABLE, 'backend unreachable');
  if (rule === 'slow') {
    // A backend that throttles bursts: Status takes 3.5 s once more than 15 came within 2 s.
    const now = Date.now();
    statusTimes.push(now);
    while (statusTimes[0]! < now - 2000) statusTimes.shift();
    if (statusTimes.length > 15) await sleep(3500);
  }
  const s = load();
  const key = s.keys.find((k) => k.id === s.current)!;
  let keyId = key.id;
  if (rule === 'empty-key-id') keyId = '';
  if (rule === 'long-key-id') keyId = 'k'.repeat(1025);
  if (rule === 'flapping-key-id') keyId = `${key.id}-${statusCalls++ % 2}`;
  const version = rule === 'version-v1' ? 'v1' : rule === 'version-v2beta1' ? 'v2beta1' : 'v2';
  let healthz = key.enabled || rule === 'disabled-says-ok' ? 'ok' : 'key disabled';
  if (rule === 'healthz-not-ok') healthz = 'degraded';
  if (rule === 'cached-health') {
    // Health is checked at most every 30 s (as aws-encryption-provider does); a restart starts without a cache.
    if (health && Date.now() - health.at < 30_000) healthz = health.healthz;
    else health = { at: Date.now(), healthz };
  }
  return { version, healthz, keyId };
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

const PAD = 2000;

async function handleEncrypt(req: { plaintext: Buffer; uid: string }): Promise<EncryptResponse> {
  if (!req.uid) refuse(status.INVALID_ARGUMENT, 'uid is required');
  if (req.plaintext.length === 0) {
    if (rule === 'crash-on-empty-plaintext') panic('runtime error: index out of range [0] with length 0');
    refuse(status.INVALID_ARGUMENT, 'plaintext is empty');
  }
  const s = load();
  const key = s.keys.find((k) => k.id === s.current)!;
  if (!key.enabled) {
    // As the upstream SoftHSM mock plugin does: the first Encrypt after its key is disabled panics.
    if (rule === 'panic-after-disable') panic('CKR_KEY_FUNCTION_NOT_PERMITTED');
    refuse(status.FAILED_PRECONDITION, `key ${key.id} is disabled`);
  }
  let ciphertext = seal(key, req.plaintext);
  if (rule === 'big-ciphertext') ciphertext = Buffer.concat([ciphertext, Buffer.alloc(PAD)]);
  if (rule === 'unchecked-trailer') ciphertext = Buffer.concat([ciphertext, Buffer.of(0)]);
  const annotations: Record<string, Buffer> =
    rule === 'bad-annotation-key'
      ? { 'Not A DNS Name': Buffer.from('1') }
      : rule === 'huge-annotations'
        ? { 'pad.broken.test': Buffer.alloc(40 * 1024, 1) }
        : { 'version.broken.test': Buffer.from('1') };
  return { ciphertext, keyId: rule === 'encrypt-other-key-id' ? `${key.id}-other` : key.id, annotations };
}

async function handleDecrypt(req: { ciphertext: Buffer; keyId: string; uid: string }) {
  if (rule === 'slowish-decrypt') await sleep(50);
  if (rule === 'serial') {
    if (inFlight >= 8) refuse(status.RESOURCE_EXHAUSTED, 'too many requests');
    // Held for a turn of the event loop only: fast one at a time, refused in a crowd.
    inFlight++;
    await new Promise((r) => setImmediate(r));
    inFlight--;
  }
  if (!req.uid) refuse(status.INVALID_ARGUMENT, 'uid is required');
  const s = load();
  let ciphertext = req.ciphertext;
  if (rule === 'big-ciphertext') {
    if (ciphertext.length < PAD || ciphertext.subarray(ciphertext.length - PAD).some((b) => b !== 0))
      refuse(status.INVALID_ARGUMENT, 'ciphertext does not authenticate');
    ciphertext = ciphertext.subarray(0, ciphertext.length - PAD);
  }
  if (rule === 'unchecked-trailer') ciphertext = ciphertext.subarray(0, ciphertext.length - 1);
  const keyId = rule === 'encrypt-other-key-id' ? req.keyId.replace(/-other$/, '') : ours(req.keyId);
  const candidates = rule === 'ignores-key-id' ? s.keys : s.keys.filter((k) => k.id === keyId);
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

// invalid-utf8-key-id writes its answers field by field, key_id as bytes: protobuf-es cannot put invalid UTF-8 into
// a string field, a plugin in another language easily can.
const cutKeyId = (keyId: string) => Buffer.concat([Buffer.from(keyId), CUT]);
function statusBytes(s: StatusResponse): Buffer {
  const w = new BinaryWriter().uint32(10).string(s.version).uint32(18).string(s.healthz);
  return Buffer.from(w.uint32(26).bytes(cutKeyId(s.keyId)).finish());
}
function encryptBytes(e: EncryptResponse): Buffer {
  const w = new BinaryWriter().uint32(10).bytes(e.ciphertext).uint32(18).bytes(cutKeyId(e.keyId));
  for (const [k, v] of Object.entries(e.annotations))
    w.uint32(26).fork().uint32(10).string(k).uint32(18).bytes(v).join();
  return Buffer.from(w.finish());
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
  const s = KeyManagementServiceService;
  const service =
    rule === 'invalid-utf8-key-id'
      ? {
          ...s,
          status: { ...s.status, responseSerialize: statusBytes },
          encrypt: { ...s.encrypt, responseSerialize: encryptBytes },
        }
      : s;
  server.addService(service, {
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
  const key = s.keys.find((k) => k.id === ours(args[1] ?? ''));
  if (!key) {
    process.stderr.write(`no key ${args[1]}\n`);
    process.exit(1);
  }
  if (!(rule === 'disable-ignored' && command === 'disable') && !(rule === 'enable-ignored' && command === 'enable')) {
    key.enabled = command === 'enable';
  }
  save(s);
}
