import { createHash } from 'node:crypto';
import { components } from '../binaries/components.js';

/** The commands whose work is split into cells. */
export const CELL_COMMANDS = ['run', 'conformance', 'chaos'] as const;
export type CellCommand = (typeof CELL_COMMANDS)[number];

/**
 * Cell is one unit of work: a scenario (run), a check or scenario (conformance) or a seed (chaos), on one backend,
 * Kubernetes version and plugin. Its id is made of these alone, so the same cell has the same id on every machine.
 */
export interface Cell {
  command: CellCommand;
  /** The scenario's name, the check's id (`scenario-<name>` for a conformance scenario), or `seed` for chaos. */
  unit: string;
  backend: string;
  /** The kube-apiserver version, or `model` on the sim. */
  k8sVersion: string;
  /** `fake-kms`, or `plugin-<hash>` for a plugin of the user's (pluginLabel). */
  plugin: string;
  /** The seed the cell runs with, when one was given (chaos always); empty otherwise. */
  seed: string;
}

/** cellId is the cell's stable id: `command:unit:backend:k8sVersion:plugin:seed` (`-` for no seed). */
export const cellId = (c: Cell): string =>
  [c.command, c.unit, c.backend, c.k8sVersion, c.plugin, c.seed === '' ? '-' : c.seed].join(':');

/**
 * pluginLabel names the KMS in cell ids: `fake-kms`, `cloud-<name>` for kmslab's plugin of an emulated cloud, or a
 * hash of the user's plugin description (its commands and hooks may carry tokens, so they are never spelt out in
 * ids, logs or result files).
 */
export const pluginLabel = (plugin: object | undefined, cloud?: string): string =>
  plugin === undefined
    ? cloud
      ? `cloud-${cloud}`
      : 'fake-kms'
    : `plugin-${fingerprint(cloud ? { plugin, cloud } : plugin).slice(0, 12)}`;

/** fingerprint is a hex SHA-256 of a value's canonical JSON (object keys sorted): equal values, equal prints. */
export const fingerprint = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex');

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** k8sLabel names the Kubernetes version in cell ids: `model` on the sim, else the version asked for or the default. */
export const k8sLabel = (backend: string, version?: string): string =>
  backend === 'sim' ? 'model' : (version ?? components['kube-apiserver'].defaultVersion);

/** seedOfCellId reads the seed back out of a cell id (`` for none); the seed is last, so it may hold colons. */
export const seedOfCellId = (id: string): string => {
  const seed = id.split(':').slice(5).join(':');
  return seed === '-' ? '' : seed;
};
