import {
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parse,
  parseAllDocuments,
  Parser,
  Scalar,
  type Document,
  type Node,
  type YAMLMap,
} from 'yaml';
import type { CST } from 'yaml';
import { parseDuration } from '../common/duration.js';
import { KmslabError } from '../common/errors.js';
import { printable } from '../common/printable.js';
import { checkProviderName, type EncryptionRule, type ProviderSpec } from './encryption-config.js';

/** A problem in a user's EncryptionConfiguration, at its line; errors stop kmslab, warnings are printed. */
export interface LintProblem {
  line: number;
  level: 'error' | 'warning';
  message: string;
}

/** UserEncryption is a linted config: its rules (each kms endpoint still the user's) and the Secrets' provider. */
export interface UserEncryption {
  rules: EncryptionRule[];
  /** The KMS v2 provider Secrets are written with: values are stored as `k8s:enc:kms:v2:<providerName>:`. */
  providerName: string;
  problems: LintProblem[];
}

const TOP = ['apiVersion', 'kind', 'resources'];
const ENTRY = ['resources', 'providers'];
const KMS = ['apiVersion', 'name', 'endpoint', 'timeout', 'cachesize'];
const KINDS = ['kms', 'aesgcm', 'aescbc', 'secretbox', 'identity'] as const;
const KEY_BYTES: Record<string, number[]> = { aesgcm: [16, 24, 32], aescbc: [16, 24, 32], secretbox: [32] };
const NOT_REST = ['apiserveripinfo', 'serviceipallocations', 'servicenodeportallocations'];

/**
 * MAX_NESTING is the deepest nesting of mappings and sequences the lint reads: an EncryptionConfiguration needs 8
 * (resources → entry → providers → provider → aesgcm → keys → key); deeper input is refused before it is parsed.
 */
export const MAX_NESTING = 32;
// Go's time.Duration holds at most 2^63 − 1 ns; kube-apiserver refuses a longer timeout as an invalid duration.
const GO_MAX_DURATION_MS = 9_223_372_036_854;
// Text from the file is echoed in problems at most this long (a name can be megabytes), escaped.
const ECHO_CHARS = 64;
const shown = (text: string) => `"${printable(text, ECHO_CHARS)}"`;

/**
 * lintEncryptionConfig checks an EncryptionConfiguration as kube-apiserver would load it (strict decoding, the
 * validation of k8s.io/apiserver validation_encryption.go, the masking rules of encryptionconfig/config.go), plus
 * what kmslab needs: Secrets written with a KMS v2 provider. Each problem carries its line.
 */
export function lintEncryptionConfig(text: string, options: { forLab?: boolean } = {}): UserEncryption {
  // A config to run a lab with must suit kmslab (Secrets on KMS v2, names it can show); one read to audit a cluster
  // (kmslab verify --config) is taken as the apiserver takes it, KMS v1 included.
  const forLab = options.forLab ?? true;
  const problems: LintProblem[] = [];
  const rules: EncryptionRule[] = [];
  let providerName = '';
  const tooDeep = deepestPoint(text);
  if (tooDeep) {
    problems.push({
      line: tooDeep.line,
      level: 'error',
      message: `mappings and sequences nest deeper than ${MAX_NESTING} levels here (an EncryptionConfiguration needs 8): not read further`,
    });
    return { rules, providerName, problems };
  }
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined) => (node?.range ? counter.linePos(node.range[0]).line : 1);
  const error = (node: Node | null | undefined, message: string) =>
    problems.push({ line: lineOf(node), level: 'error', message });
  const warn = (node: Node | null | undefined, message: string) =>
    problems.push({ line: lineOf(node), level: 'warning', message });
  const list = Array.isArray(docs) ? docs : [];
  const doc = list[0];
  if (!doc) {
    error(undefined, 'the file is empty: expected an EncryptionConfiguration');
    return { rules, providerName, problems };
  }
  for (const extra of list.slice(1)) {
    if (extra.contents === null || (isScalar(extra.contents) && extra.contents.value === null)) continue;
    error(
      extra.contents,
      'a second YAML document: kube-apiserver reads only the first one in the file and ignores the rest; keep one EncryptionConfiguration per file',
    );
  }
  for (const e of doc.errors)
    problems.push({ line: e.linePos?.[0].line ?? 1, level: 'error', message: yamlMessage(e.message) });
  const src: Source = { doc, text };
  const field = (map: YAMLMap, key: string, where: string) => stringField(src, map, key, where, error);

  const root = doc.contents;
  if (!isMap(root)) {
    error(root, 'not an EncryptionConfiguration: expected a mapping with apiVersion, kind and resources');
    return { rules, providerName, problems };
  }
  unknownFields(root, TOP, 'EncryptionConfiguration', error);
  const apiVersion = field(root, 'apiVersion', 'EncryptionConfiguration');
  const kind = field(root, 'kind', 'EncryptionConfiguration');
  if (apiVersion === 'v1' && kind === 'EncryptionConfig') {
    warn(
      root.get('apiVersion', true) as Node,
      'apiVersion v1 / kind EncryptionConfig is the legacy form; write apiserver.config.k8s.io/v1 / EncryptionConfiguration',
    );
  } else if (apiVersion !== 'apiserver.config.k8s.io/v1' || kind !== 'EncryptionConfiguration') {
    error(
      root,
      `apiVersion ${shown(apiVersion ?? '')}, kind ${shown(kind ?? '')}: expected apiserver.config.k8s.io/v1, EncryptionConfiguration`,
    );
  }
  const entries = root.get('resources', true);
  if (!isSeq(entries) || entries.items.length === 0) {
    error(entries ?? root, 'at least one resources entry is required');
    return { rules, providerName, problems };
  }

  const kmsNames = new Set<string>();
  const seen = new Map<string, number>(); // group/resource → entry index that claimed it
  entries.items.forEach((entryNode, index) => {
    if (!isMap(entryNode))
      return error(entryNode as Node, `resources[${index}] must be a mapping with resources and providers`);
    unknownFields(entryNode, ENTRY, `resources[${index}]`, error);
    const resourcesNode = entryNode.get('resources', true);
    const resources = isSeq(resourcesNode)
      ? resourcesNode.items.map((r) => stringValue(src, r, `resources[${index}].resources`, error) ?? '')
      : [];
    if (resources.length === 0)
      error(resourcesNode ?? entryNode, `resources[${index}].resources: at least one resource is required`);
    resources.forEach((res, j) => {
      const node = (resourcesNode as unknown as { items: Node[] }).items[j];
      const problem = resourceProblem(res);
      if (problem) error(node, `${shown(res)}: ${problem}`);
      const [group, resource] = groupResource(res);
      for (const masker of [`${group}/*`, '*/*']) {
        const earlier = seen.get(masker);
        if (earlier !== undefined && earlier < index)
          error(node, `resource ${shown(res)} is masked by earlier rule in resources[${earlier}]`);
      }
      const key = `${group}/${resource}`;
      if (seen.has(key) && seen.get(key) === index)
        error(node, `${shown(res)}: the same resource cannot be specified multiple times`);
      else if (seen.has(key))
        warn(
          node,
          `${shown(res)} is also in resources[${seen.get(key)}]: writes use that entry's first provider; this entry's providers are only tried for reads`,
        );
      else seen.set(key, index);
    });
    if (resources.includes('*.*') && resources.length > 1)
      error(
        resourcesNode,
        'using overlapping resources such as "*.*" with others in one list is not allowed: they would be masked',
      );

    const providersNode = entryNode.get('providers', true);
    if (!isSeq(providersNode) || providersNode.items.length === 0) {
      error(providersNode ?? entryNode, `resources[${index}].providers: at least one provider is required`);
      return;
    }
    const providers: ProviderSpec[] = [];
    providersNode.items.forEach((pNode, j) => {
      const at = `resources[${index}].providers[${j}]`;
      if (!isMap(pNode)) return error(pNode as Node, `${at} must be a mapping`);
      const present = KINDS.filter((k) => pNode.has(k));
      unknownFields(pNode, [...KINDS], at, error);
      if (present.length === 0)
        return error(pNode, `${at}: provider does not contain any of kms, aesgcm, aescbc, secretbox, identity`);
      if (present.length > 1)
        return error(
          pNode,
          `${at}: more than one provider specified in a single element; split them into list elements`,
        );
      const kindName = present[0]!;
      const body = pNode.get(kindName, true);
      if (kindName === 'identity') {
        if (isMap(body) && body.items.length) unknownFields(body, [], `${at}.identity`, error);
        providers.push({ identity: {} });
      } else if (kindName === 'kms') {
        const kms = lintKms(src, body, at, kmsNames, error, forLab);
        if (kms && !forLab && kms.version !== 'v2')
          providers.push({
            kmsV1: { name: kms.name, socket: kms.socket, ...(kms.timeout ? { timeout: kms.timeout } : {}) },
          });
        else if (kms)
          providers.push({
            kms: { name: kms.name, socket: kms.socket, ...(kms.timeout ? { timeout: kms.timeout } : {}) },
          });
      } else {
        providers.push({ [kindName]: { keys: lintKeys(src, body, kindName, at, error) } } as ProviderSpec);
      }
    });
    const firstKms = providers.findIndex((p) => 'kms' in p || 'kmsV1' in p);
    const identity = providers.findIndex((p) => 'identity' in p);
    if (firstKms > 0 && identity >= 0 && identity < firstKms) {
      warn(
        providersNode.items[identity] as Node,
        `resources[${index}]: identity comes before the kms provider, so ${resources.map((r) => printable(r, ECHO_CHARS)).join(', ')} are written in plaintext; the kms provider is only tried for reads`,
      );
    }
    rules.push({ resources, providers });
  });

  if (!forLab) return { rules, providerName, problems: problems.sort((a, b) => a.line - b.line) };
  // What kmslab proves is about Secrets: they must be written by a KMS v2 provider.
  const secretsRule = rules.find((r) => r.resources.some((x) => x === 'secrets' || x === '*.' || x === '*.*'));
  const writer = secretsRule?.providers[0];
  if (!secretsRule)
    error(entries, 'no entry covers secrets: add one with resources [secrets] (or *. / *.*) and a kms provider first');
  else if (!writer || !('kms' in writer))
    error(
      entries,
      `secrets are written with ${writer ? Object.keys(writer)[0] : 'nothing'}, not a KMS v2 provider: put the kms provider first in that entry`,
    );
  else providerName = writer.kms.name;
  return { rules, providerName, problems: problems.sort((a, b) => a.line - b.line) };
}

/** The file's text and its document: problems echo values as written. */
interface Source {
  doc: Document;
  text: string;
}

type Report = (node: Node | null | undefined, message: string) => void;

function lintKms(
  src: Source,
  body: unknown,
  at: string,
  names: Set<string>,
  error: Report,
  forLab: boolean,
): { name: string; socket: string; timeout?: string; version?: string | null } | undefined {
  if (!isMap(body)) {
    error(body as Node, `${at}.kms must be a mapping with apiVersion, name, endpoint`);
    return undefined;
  }
  unknownFields(body, KMS, `${at}.kms`, error);
  const field = (key: string) => stringField(src, body, key, `${at}.kms`, error);
  const nameField = field('name');
  const name = nameField ?? '';
  const version = field('apiVersion');
  const endpoint = field('endpoint') ?? '';
  const timeout = field('timeout');
  const nameNode = body.get('name', true) as Node | undefined;
  const called = `kms provider ${shown(name)}`;
  if (!forLab && (version === undefined || version === 'v1')) {
    // KMS v1 (the default apiVersion): the apiserver runs it behind --feature-gates=KMSv1=true.
  } else if (version === undefined)
    error(
      body,
      `${called} has no apiVersion: it defaults to v1 (KMS v1, off by default since 1.29); add apiVersion: v2`,
    );
  else if (version === 'v1')
    error(body.get('apiVersion', true) as Node, `${called} is KMS v1: kmslab runs KMS v2; set apiVersion: v2`);
  else if (version !== 'v2' && version !== null)
    error(
      body.get('apiVersion', true) as Node,
      `unsupported apiVersion ${shown(version)} for KMS provider, only v1 and v2 are supported`,
    );
  if (nameField === null) {
    // Not a string: already reported.
  } else if (!name) error(body, 'name is a mandatory field for a provider');
  else if (name.includes(':')) error(nameNode, `invalid KMS provider name ${shown(name)}, must not contain ':'`);
  else if (names.has(name)) error(nameNode, `duplicate KMS provider name ${shown(name)}, names must be unique`);
  else if (forLab && !usableByKmslab(name))
    error(
      nameNode,
      `KMS provider name ${shown(name)} cannot be used with kmslab: it needs lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 63 — the name is in every stored value's prefix, which kmslab shows and matches byte for byte (kube-apiserver itself only forbids ':')`,
    );
  if (name) names.add(name);
  if (endpoint === '' && field('endpoint') !== null) error(body, 'endpoint is a mandatory field for a kms');
  else if (endpoint && !endpoint.startsWith('unix://'))
    error(
      body.get('endpoint', true) as Node,
      `unsupported scheme ${shown(endpoint.split(':')[0]!)} for KMS provider, only unix is supported`,
    );
  if (timeout) {
    try {
      parseDuration(timeout, { what: `${called} timeout`, go: true, maxMs: GO_MAX_DURATION_MS });
    } catch (e) {
      if (!(e instanceof KmslabError)) throw e;
      error(body.get('timeout', true) as Node, `${e.message} (a positive Go duration such as 3s)`);
    }
  }
  if (body.has('cachesize') && version !== 'v1' && (forLab || version !== undefined))
    error(body.get('cachesize', true) as Node, 'cachesize is not supported in v2');
  return { name, socket: endpoint.replace(/^unix:\/\//, ''), ...(timeout ? { timeout } : {}), version };
}

// kmslab's own rule for provider names (the lab refuses any other), asked here so the problem carries its line.
function usableByKmslab(name: string): boolean {
  try {
    checkProviderName(name);
    return true;
  } catch {
    return false;
  }
}

function lintKeys(
  src: Source,
  body: unknown,
  kind: string,
  at: string,
  error: Report,
): Array<{ name: string; secret: string }> {
  const keysNode = isMap(body) ? body.get('keys', true) : undefined;
  if (isMap(body)) unknownFields(body, ['keys'], `${at}.${kind}`, error);
  if (!isSeq(keysNode) || keysNode.items.length === 0) {
    error((keysNode ?? body) as Node, `${at}.${kind}: at least one key is required`);
    return [];
  }
  return keysNode.items.flatMap((k, i) => {
    if (!isMap(k)) return [];
    const where = `${at}.${kind}.keys[${i}]`;
    unknownFields(k, ['name', 'secret'], where, error);
    const nameField = stringField(src, k, 'name', where, error);
    const secretField = stringField(src, k, 'secret', where, error);
    const name = nameField ?? '';
    const secret = secretField ?? '';
    if (nameField !== null && !name) error(k, 'name is a mandatory field for a key');
    if (secretField === null) return [{ name, secret }];
    // Never echo a secret, not even a wrong one.
    if (!secret) error(k, 'secret is a mandatory field for a key');
    else if (!/^[A-Za-z0-9+/]*={0,2}$/.test(secret) || secret.length % 4 !== 0)
      error(k, 'secrets must be base64 encoded');
    else {
      const bytes = Buffer.from(secret, 'base64').length;
      if (!KEY_BYTES[kind]!.includes(bytes))
        error(k, `secret is not of the expected length, got ${bytes}, expected one of [${KEY_BYTES[kind]!.join(' ')}]`);
    }
    return [{ name, secret }];
  });
}

function resourceProblem(res: string): string | undefined {
  if (res !== res.toLowerCase()) return 'resource name should not contain capital letters';
  if (res === '*') return "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources";
  if (NOT_REST.includes(res)) return 'resources which do not have REST API/s cannot be encrypted';
  const [group, resource] = groupResource(res);
  if (group === 'events.k8s.io')
    return "'*.events.k8s.io' objects are stored using the 'events' API group in etcd; use 'events'";
  if (group === 'extensions') return "'extensions' group has been removed and cannot be used for encryption";
  if (group === '*' && resource !== '*') return 'encrypting the same resource across groups is not supported';
  return undefined;
}

// As schema.ParseGroupResource: "secrets" → ["", "secrets"], "deployments.apps" → ["apps", "deployments"].
function groupResource(res: string): [string, string] {
  const dot = res.indexOf('.');
  return dot < 0 ? ['', res] : [res.slice(dot + 1), res.slice(0, dot)];
}

function unknownFields(map: YAMLMap, known: string[], where: string, error: Report): void {
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!known.includes(key)) {
      error(
        pair.key as Node,
        `unknown field ${shown(key)} in ${where} (the apiserver decodes this file strictly since 1.31)`,
      );
    }
  }
}

/**
 * stringField reads a field kube-apiserver decodes into a Go string: its text; undefined when it is absent or null
 * (Go then reads ""); null when it would not decode as a string — reported here. The apiserver reads YAML 1.1 (an
 * unquoted yes, on or 0x1f is a boolean or a number there, and a number is not a string) and converts it to JSON,
 * so a sequence, a mapping or a tagged value is not a string either.
 */
function stringField(src: Source, map: YAMLMap, key: string, where: string, error: Report): string | null | undefined {
  const node = map.get(key, true) as unknown;
  return node === undefined ? undefined : stringValue(src, node, `${where}.${key}`, error);
}

function stringValue(src: Source, value: unknown, where: string, error: Report): string | null | undefined {
  const node = isAlias(value) ? value.resolve(src.doc) : value;
  const refuse = (what: string) => {
    error(node as Node, `${where} must be a string, but kube-apiserver would read ${what}`);
    return null;
  };
  if (isCollection(node)) return refuse(isMap(node) ? 'a mapping' : 'a sequence');
  if (!isScalar(node)) return refuse('something else');
  if (node.value === null) return undefined;
  if (node.tag && node.tag !== 'tag:yaml.org,2002:str')
    return refuse(`a value tagged ${printable(node.tag, ECHO_CHARS)}; write plain text`);
  if (typeof node.value !== 'string') {
    // As written: the yaml library reads 0x1f as 31.
    const written = node.range ? src.text.slice(node.range[0], node.range[1]) : String(node.value);
    return refuse(`the ${typeof node.value} ${shown(written)}`);
  }
  if (node.type === Scalar.PLAIN) {
    const asYaml11 = parse(node.value, { version: '1.1' }) as unknown;
    if (asYaml11 === null) return undefined;
    if (typeof asYaml11 !== 'string')
      return refuse(`the unquoted ${shown(node.value)} as a ${typeof asYaml11} (YAML 1.1); quote it`);
  }
  return node.value;
}

// The yaml library's first line, without its own " at line L, column C:" (the problem carries the line).
function yamlMessage(message: string): string {
  return printable(message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), 200);
}

/**
 * deepestPoint walks the file's syntax tree (the yaml library's CST, built without recursion) with a stack of its
 * own, and returns where mappings and sequences first nest deeper than MAX_NESTING: composing such input would
 * overflow the call stack.
 */
function deepestPoint(text: string): { line: number } | undefined {
  const counter = new LineCounter();
  const stack: Array<[CST.Token, number]> = [];
  for (const token of new Parser(counter.addNewLine).parse(text)) stack.push([token, 0]);
  while (stack.length > 0) {
    const [token, depth] = stack.pop()!;
    if (token.type === 'document') {
      if (token.value) stack.push([token.value, depth]);
      continue;
    }
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    if (depth + 1 > MAX_NESTING) return { line: counter.linePos(token.offset).line };
    for (const item of token.items) {
      if (item.key) stack.push([item.key, depth + 1]);
      if (item.value) stack.push([item.value, depth + 1]);
    }
  }
  return undefined;
}
