import type { Lab, LabNeeds } from './lab.js';

/**
 * unmetNeeds says why a backend cannot give a scenario the lab it needs — a real apiserver, the model's virtual
 * time, feature gates (set only where kmslab runs kube-apiserver itself) — or undefined when it can. The runner
 * reports such a scenario skipped, never passed.
 */
export function unmetNeeds(needs: LabNeeds, backend: Lab['backend'] | string): string | undefined {
  const model = backend === 'sim';
  if (needs.apiserver === 'real' && model) {
    return 'needs a real kube-apiserver: the sim does not model what this scenario proves (run it on --backend local)';
  }
  if (needs.apiserver === 'model' && !model) {
    return 'runs only on the sim: it spans more time than a real lab can wait (run it with --backend sim)';
  }
  if (needs.encryption === 'kms-v1' && backend !== 'local') {
    return 'starts on KMS v1, whose plugin runs beside a local lab only (run it with --backend local)';
  }
  if (needs.controllers?.length && backend !== 'local') {
    return `needs kube-controller-manager (${needs.controllers.join(', ')}), which only local labs run`;
  }
  if (needs.k8sVersion && backend !== 'local') {
    return `starts on kube-apiserver ${needs.k8sVersion}, which only local labs can switch from (run it with --backend local)`;
  }
  if ((needs.plugins ?? 1) > 1 && backend !== 'local') {
    return `runs ${needs.plugins} KMS plugins, the others beside the lab's own, which only a local lab's apiserver can dial (run it with --backend local)`;
  }
  const cloud = needs.kms?.filter((c) => c.startsWith('cloud-')) ?? [];
  if (cloud.length && backend !== 'local') {
    return `needs a cloud KMS behind the plugin (${cloud.join(', ')}), which only local labs run (--cloud alibaba|aws)`;
  }
  if (needs.featureGates && Object.keys(needs.featureGates).length && backend !== 'local' && !model) {
    return `needs kube-apiserver feature gates (${Object.keys(needs.featureGates).join(', ')}), which only the local backend sets`;
  }
  return undefined;
}
