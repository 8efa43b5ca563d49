import type { Lab, LabApiserver, LabKms } from '../../harness/index.js';

/**
 * sabotage returns a view of a lab in which some KMS or apiserver operations are replaced, to prove a scenario
 * notices when the world does not do what it asked (a plugin that never stops, a key that never disables).
 */
export function sabotage(
  lab: Lab,
  overrides: { kms?: Partial<LabKms>; apiserver?: (a: LabApiserver) => Partial<LabApiserver> },
): Lab {
  const kms = { ...lab.kms, ...overrides.kms };
  const apiservers = lab.apiservers.map((a) =>
    overrides.apiserver
      ? (new Proxy(a, { get: (t, p) => (overrides.apiserver!(t) as never)[p] ?? Reflect.get(t, p) }) as LabApiserver)
      : a,
  );
  return new Proxy(lab, {
    get(target, prop) {
      if (prop === 'kms') return kms;
      if (prop === 'apiservers') return apiservers;
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
