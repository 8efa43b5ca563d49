import { z } from 'zod';
import { KmslabError } from '../harness/common/errors.js';
import { KMS_CAPABILITIES, LAB_CONTROLLERS } from '../harness/lab.js';
import type { Lab } from '../harness/lab.js';
import type { LabNeeds, Scenario, ScenarioContext } from './model.js';

/** ScenarioDefinition is what a scenario author writes; defineScenario fills in the rest. */
export interface ScenarioDefinition {
  /** Lowercase letters, digits and '-': it names the scenario's namespace and labs. */
  name: string;
  summary: string;
  /** What a pass proves, in a sentence (default: the summary). */
  proves?: string;
  tags?: string[];
  /** What the lab must offer; default KMS v2 on, one apiserver, no key lifecycle. */
  needs?: LabNeeds;
  run(lab: Lab, ctx: ScenarioContext): Promise<void>;
}

// The name becomes the namespace kmslab-<name> and part of lab names: a DNS label with room to spare.
const NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

const definition = z.strictObject({
  name: z
    .string()
    .regex(NAME, 'use 1–40 lowercase letters, digits and "-", starting and ending with a letter or digit'),
  summary: z.string().trim().min(1, 'say in a line what the scenario does'),
  proves: z.string().trim().min(1).optional(),
  tags: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'tags are lowercase words like "core"')).optional(),
  needs: z
    .strictObject({
      encryption: z.enum(['kms', 'identity', 'kms-v1']).optional(),
      apiservers: z.number().int().min(1).max(5).optional(),
      kms: z.array(z.enum(KMS_CAPABILITIES)).optional(),
      apiserver: z.enum(['real', 'model']).optional(),
      controllers: z.array(z.enum(LAB_CONTROLLERS)).optional(),
      featureGates: z
        .record(z.string().regex(/^[A-Z][A-Za-z0-9]*$/, 'a gate name, like KMSv1'), z.boolean())
        .optional(),
    })
    .optional(),
  run: z.custom<ScenarioDefinition['run']>((v) => typeof v === 'function', 'run must be an async function (lab, ctx)'),
});

/**
 * defineScenario checks a scenario and returns it ready for `runScenarios` or `kmslab run`. A mistake (a typo in a
 * field, a name that cannot be a namespace) throws at once, naming the field, instead of failing mid-run.
 */
export function defineScenario(input: ScenarioDefinition): Scenario {
  const parsed = definition.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
    const name = typeof (input as { name?: unknown } | undefined)?.name === 'string' ? ` "${input.name}"` : '';
    throw new KmslabError('usage', `scenario${name} is not valid: ${problems.join('; ')}`);
  }
  const d = parsed.data;
  return {
    name: d.name,
    summary: d.summary,
    proves: d.proves ?? d.summary,
    tags: d.tags ?? [],
    needs: { encryption: 'kms', ...d.needs },
    run: d.run,
  };
}
