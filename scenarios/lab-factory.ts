import { runLabName } from '../harness/labs/run-lab-name.js';
import { labOptionsFor, startLab, type StartLabOptions } from '../harness/start-lab.js';
import type { LabFactory } from './runner.js';

/**
 * labFactory gives runScenarios a fresh lab per scenario on one backend, shaped by each scenario's needs (how
 * many apiservers, KMS on or not) and named after it.
 */
export function labFactory(options: StartLabOptions = {}): LabFactory {
  const stamp = Date.now().toString(36);
  return (scenario, signal) =>
    startLab({
      removeOnClose: true,
      ...options,
      name: runLabName(scenario.name, stamp),
      ...labOptionsFor(scenario.needs),
      ...(signal ? { signal } : {}),
    });
}
