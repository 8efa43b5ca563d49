import { LocalLab } from '../harness/index.js';
process.env.KMSLAB_HOME = '/tmp/kh-explore';
const t0 = Date.now();
const log = (...a: unknown[]) => console.log(((Date.now() - t0) / 1000).toFixed(1), ...a);
const lab = await LocalLab.start({ name: 'explore' });
const a = lab.apiservers[0]!;
try {
  await lab.api.createSecret({ namespace: 'default', name: 's1' }, { a: 'b' });
  const { keyId } = await lab.kms.status();
  // 1. key disabled: health, reads, writes
  await lab.kms.disable(keyId);
  log('disabled', keyId);
  for (let i = 0; i < 30; i++) {
    const h = await lab.api.request('GET', '/healthz/kms-providers');
    if (h.status !== 200) { log('healthz', h.status, h.body.slice(0, 300)); break; }
    await new Promise((r) => setTimeout(r, 1000));
  }
  log('read', await lab.api.readSecret({ namespace: 'default', name: 's1' }).then(() => 'ok', (e) => e.message));
  log('write', await lab.api.createSecret({ namespace: 'default', name: 's2' }, { a: 'b' }).then(() => 'ok', (e) => e.message));
  await a.restart('live');
  log('restarted');
  log('read', await lab.api.readSecret({ namespace: 'default', name: 's1' }).then(() => 'ok', (e) => `${e.status} ${e.message}`));
  log('write', await lab.api.createSecret({ namespace: 'default', name: 's3' }, { a: 'b' }).then(() => 'ok', (e) => `${e.status} ${e.message}`));
  log('audit', JSON.stringify((await lab.kms.audit({ since: new Date(t0).toISOString() })).filter(r => r.method !== 'Status').map((r) => [r.method, r.code])));
  await lab.kms.enable(keyId);
  for (let i = 0; i < 60; i++) {
    const r = await lab.api.readSecret({ namespace: 'default', name: 's1' }).then(() => 'ok', (e) => e.message);
    if (r === 'ok') { log('recovered read after enable'); break; }
    await new Promise((r) => setTimeout(r, 1000));
  }
  // 2. plugin down + restart
  await lab.kms.stopPlugin();
  log('plugin stopped');
  for (let i = 0; i < 40; i++) {
    const h = await lab.api.request('GET', '/healthz/kms-providers');
    if (h.status !== 200) { log('healthz', h.status, h.body.slice(0, 300)); break; }
    await new Promise((r) => setTimeout(r, 1000));
  }
  await a.restart('live');
  log('restarted with plugin down');
  log('read', await lab.api.readSecret({ namespace: 'default', name: 's1' }).then(() => 'ok', (e) => `${e.status} ${e.message}`));
  log('write', await lab.api.createSecret({ namespace: 'default', name: 's4' }, { a: 'b' }).then(() => 'ok', (e) => `${e.status} ${e.message}`));
  await lab.kms.startPlugin();
  for (let i = 0; i < 60; i++) {
    const r = await lab.api.readSecret({ namespace: 'default', name: 's1' }).then(() => 'ok', (e) => e.message);
    if (r === 'ok') { log('recovered after plugin start'); break; }
    await new Promise((r) => setTimeout(r, 1000));
  }
} finally {
  await lab.close();
}
