import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import type { EncryptionRule, ProviderSpec } from './encryption-config.js';

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
 * lintEncryptionConfig checks an EncryptionConfiguration as kube-apiserver would load it (strict decoding, the
 * validation of k8s.io/apiserver validation_encryption.go, the masking rules of encryptionconfig/config.go), plus
 * what kmslab needs: Secrets written with a KMS v2 provider. Each problem carries its line.
 */
export function lintEncryptionConfig(text: string): UserEncryption {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true });
  const problems: LintProblem[] = [];
  const lineOf = (node: Node | null | undefined) => (node?.range ? counter.linePos(node.range[0]).line : 1);
  const error = (node: Node | null | undefined, message: string) =>
    problems.push({ line: lineOf(node), level: 'error', message });
  const warn = (node: Node | null | undefined, message: string) =>
    problems.push({ line: lineOf(node), level: 'warning', message });
  for (const e of doc.errors)
    problems.push({ line: e.linePos?.[0].line ?? 1, level: 'error', message: e.message.split('\n')[0]! });

  const rules: EncryptionRule[] = [];
  let providerName = '';
  const root = doc.contents;
  if (!isMap(root)) {
    error(root, 'not an EncryptionConfiguration: expected a mapping with apiVersion, kind and resources');
    return { rules, providerName, problems };
  }
  unknownFields(root, TOP, 'EncryptionConfiguration', error);
  const apiVersion = str(root, 'apiVersion');
  const kind = str(root, 'kind');
  if (apiVersion === 'v1' && kind === 'EncryptionConfig') {
    warn(
      root.get('apiVersion', true) as Node,
      'apiVersion v1 / kind EncryptionConfig is the legacy form; write apiserver.config.k8s.io/v1 / EncryptionConfiguration',
    );
  } else if (apiVersion !== 'apiserver.config.k8s.io/v1' || kind !== 'EncryptionConfiguration') {
    error(
      root,
      `apiVersion "${apiVersion ?? ''}", kind "${kind ?? ''}": expected apiserver.config.k8s.io/v1, EncryptionConfiguration`,
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
    const resources = isSeq(resourcesNode) ? resourcesNode.items.map((r) => (isScalar(r) ? String(r.value) : '')) : [];
    if (resources.length === 0)
      error(resourcesNode ?? entryNode, `resources[${index}].resources: at least one resource is required`);
    resources.forEach((res, j) => {
      const node = (resourcesNode as unknown as { items: Node[] }).items[j];
      const problem = resourceProblem(res);
      if (problem) error(node, `${res}: ${problem}`);
      const [group, resource] = groupResource(res);
      for (const masker of [`${group}/*`, '*/*']) {
        const earlier = seen.get(masker);
        if (earlier !== undefined && earlier < index)
          error(node, `resource "${res}" is masked by earlier rule in resources[${earlier}]`);
      }
      const key = `${group}/${resource}`;
      if (seen.has(key) && seen.get(key) === index)
        error(node, `${res}: the same resource cannot be specified multiple times`);
      else if (seen.has(key))
        warn(
          node,
          `${res} is also in resources[${seen.get(key)}]: writes use that entry's first provider; this entry's providers are only tried for reads`,
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
        const kms = lintKms(body, at, kmsNames, error);
        if (kms) providers.push({ kms });
      } else {
        providers.push({ [kindName]: { keys: lintKeys(body, kindName, at, error) } } as ProviderSpec);
      }
    });
    const firstKms = providers.findIndex((p) => 'kms' in p);
    const identity = providers.findIndex((p) => 'identity' in p);
    if (firstKms > 0 && identity >= 0 && identity < firstKms) {
      warn(
        providersNode.items[identity] as Node,
        `resources[${index}]: identity comes before the kms provider, so ${resources.join(', ')} are written in plaintext; the kms provider is only tried for reads`,
      );
    }
    rules.push({ resources, providers });
  });

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

function lintKms(
  body: unknown,
  at: string,
  names: Set<string>,
  error: (node: Node | null | undefined, message: string) => void,
): { name: string; socket: string; timeout?: string } | undefined {
  if (!isMap(body)) {
    error(body as Node, `${at}.kms must be a mapping with apiVersion, name, endpoint`);
    return undefined;
  }
  unknownFields(body, KMS, `${at}.kms`, error);
  const name = str(body, 'name') ?? '';
  const version = str(body, 'apiVersion');
  const endpoint = str(body, 'endpoint') ?? '';
  const timeout = str(body, 'timeout');
  if (version === undefined)
    error(
      body,
      `kms provider "${name}" has no apiVersion: it defaults to v1 (KMS v1, off by default since 1.29); add apiVersion: v2`,
    );
  else if (version === 'v1')
    error(
      body.get('apiVersion', true) as Node,
      `kms provider "${name}" is KMS v1: kmslab runs KMS v2; set apiVersion: v2`,
    );
  else if (version !== 'v2')
    error(
      body.get('apiVersion', true) as Node,
      `unsupported apiVersion ${version} for KMS provider, only v1 and v2 are supported`,
    );
  if (!name) error(body, 'name is a mandatory field for a provider');
  else if (name.includes(':'))
    error(body.get('name', true) as Node, `invalid KMS provider name ${name}, must not contain ':'`);
  else if (names.has(name))
    error(body.get('name', true) as Node, `duplicate KMS provider name ${name}, names must be unique`);
  names.add(name);
  if (!endpoint) error(body, 'endpoint is a mandatory field for a kms');
  else if (!endpoint.startsWith('unix://'))
    error(
      body.get('endpoint', true) as Node,
      `unsupported scheme "${endpoint.split(':')[0]}" for KMS provider, only unix is supported`,
    );
  if (timeout !== undefined && !(durationMs(timeout) > 0))
    error(body.get('timeout', true) as Node, `timeout ${timeout}: should be a positive duration such as 3s`);
  if (body.has('cachesize') && version !== 'v1')
    error(body.get('cachesize', true) as Node, 'cachesize is not supported in v2');
  return { name, socket: endpoint.replace(/^unix:\/\//, ''), ...(timeout ? { timeout } : {}) };
}

function lintKeys(
  body: unknown,
  kind: string,
  at: string,
  error: (node: Node | null | undefined, message: string) => void,
): Array<{ name: string; secret: string }> {
  const keysNode = isMap(body) ? body.get('keys', true) : undefined;
  if (isMap(body)) unknownFields(body, ['keys'], `${at}.${kind}`, error);
  if (!isSeq(keysNode) || keysNode.items.length === 0) {
    error((keysNode ?? body) as Node, `${at}.${kind}: at least one key is required`);
    return [];
  }
  return keysNode.items.flatMap((k) => {
    if (!isMap(k)) return [];
    unknownFields(k, ['name', 'secret'], `${at}.${kind}.keys`, error);
    const name = str(k, 'name') ?? '';
    const secret = str(k, 'secret') ?? '';
    if (!name) error(k, 'name is a mandatory field for a key');
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

function unknownFields(
  map: YAMLMap,
  known: string[],
  where: string,
  error: (node: Node | null | undefined, message: string) => void,
): void {
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!known.includes(key)) {
      error(
        pair.key as Node,
        `unknown field "${key}" in ${where} (the apiserver decodes this file strictly since 1.31)`,
      );
    }
  }
}

function str(map: YAMLMap, key: string): string | undefined {
  const v = map.get(key);
  return v === undefined || v === null ? undefined : String(v);
}

// A Go duration: 3s, 500ms, 1m30s.
function durationMs(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return NaN;
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]!]!, 0);
}
