import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { body, ControlError, parse } from '../fake-kms/control-api.js';
import { serveApp } from '../fake-kms/sockets.js';
import { parseDuration } from '../harness/common/duration.js';
import { KmslabError } from '../harness/common/errors.js';
import { CloudError } from './core/cloud-error.js';
import type { CloudCore } from './core/cloud-core.js';
import { CloudFaultSpec } from './core/faults.js';
import { GrantSpec, RevokeSpec } from './core/grants.js';

/** CloudControlTarget is what the control API drives: a cloud's core, and what only its front knows. */
export interface CloudControlTarget {
  core: CloudCore<unknown, unknown>;
  describe(): unknown;
  /** What an SDK client needs, secrets included (the control socket is private to its owner). */
  connection(): unknown;
  /** resolveKey accepts a key id or `default` (the key made at first start). */
  resolveKey(ref: string): string;
}

const Window = z.strictObject({ window: z.string().min(1).max(32) });
const Expire = z.strictObject({ role: z.string().min(1).optional(), accessKeyId: z.string().min(1).optional() });
const SessionCap = z.strictObject({ maxSeconds: z.number().int().positive().max(43_200).nullable() });
const NewKey = z.strictObject({ description: z.string().max(256).optional() });
const AuditQuery = z.strictObject({
  afterSeq: z.coerce.number().int().min(0).optional(),
  since: z.iso.datetime().optional(),
  action: z.string().min(1).optional(),
  errorCode: z.string().min(1).optional(),
  outcome: z.enum(['ok', 'error']).optional(),
  principal: z.string().min(1).optional(),
  keyId: z.string().min(1).optional(),
  limit: z.coerce.number().int().positive().optional(),
});

/**
 * cloudControlApp is the control API of a cloud emulator: JSON over HTTP on a private unix socket. Every body and
 * query is validated; a bad one gets a 400 that names the field, and changes nothing.
 */
export function cloudControlApp(t: CloudControlTarget): Hono {
  const app = new Hono();
  const core = t.core;
  app.use(
    '*',
    bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: 'request body is over 64 KiB' }, 413) }),
  );

  app.get('/status', (c) => c.json(t.describe()));
  app.get('/connection', (c) => c.json(t.connection()));

  app.get('/keys', (c) => c.json(core.keys.list()));
  app.post('/keys', async (c) => {
    const { description } = parse(NewKey, await body(c, {}));
    return c.json(await core.mutate(() => core.keys.create(description ?? 'made through the kmslab control API')), 201);
  });
  app.post('/keys/:key/:action', async (c) => {
    const keyId = t.resolveKey(c.req.param('key'));
    switch (c.req.param('action')) {
      case 'disable':
        return c.json(await core.mutate(() => core.keys.disable(keyId)));
      case 'enable':
        return c.json(await core.mutate(() => core.keys.enable(keyId)));
      case 'rotate':
        return c.json(await core.mutate(() => core.keys.rotate(keyId)));
      case 'cancel-deletion':
        return c.json(await core.mutate(() => core.keys.cancelDeletion(keyId)));
      case 'schedule-deletion': {
        const { window } = parse(Window, await body(c, { window: '7d' }));
        const ms = parseDuration(window, { what: 'window', minMs: 0 });
        return c.json(await core.mutate(() => core.keys.scheduleDeletion(keyId, ms)));
      }
      default:
        throw new ControlError(
          404,
          `no key action ${c.req.param('action')}; use disable, enable, rotate, schedule-deletion or cancel-deletion`,
        );
    }
  });

  app.get('/grants', (c) => c.json(core.grants.list()));
  app.post('/grants', async (c) => {
    const spec = parse(GrantSpec, await body(c));
    return c.json(await core.mutate(() => core.grants.grant(spec)), 201);
  });
  app.post('/grants/revoke', async (c) => {
    const spec = parse(RevokeSpec, await body(c));
    return c.json({ changed: await core.mutate(() => core.grants.revoke(spec)) });
  });

  app.post('/credentials/expire', async (c) => {
    const filter = parse(Expire, await body(c, {}));
    return c.json({ expired: await core.mutate(() => core.identities.expire(filter)) });
  });
  app.put('/credentials/session-cap', async (c) => {
    const { maxSeconds } = parse(SessionCap, await body(c));
    await core.mutate(() => core.identities.capSessions(maxSeconds === null ? undefined : maxSeconds * 1000));
    return c.json({ maxSeconds });
  });

  app.get('/faults', (c) => c.json(core.faults.list()));
  app.post('/faults', async (c) => c.json(core.faults.add(parse(CloudFaultSpec, await body(c))), 201));
  app.delete('/faults', (c) => c.json({ cleared: core.faults.clear() }));
  app.delete('/faults/:id', (c) => {
    const cleared = core.faults.clear(c.req.param('id'));
    if (!cleared) throw new ControlError(404, `no fault ${c.req.param('id')}; GET /faults lists them`);
    return c.json({ cleared });
  });

  app.get('/audit', (c) => c.json(core.audit.query(parse(AuditQuery, c.req.query()))));
  app.get('/audit/counts', (c) => c.json(core.audit.counts()));

  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.onError((error, c) => {
    if (error instanceof ControlError) return c.json({ error: error.message }, error.status);
    if (error instanceof KmslabError) return c.json({ error: error.message }, 400);
    if (error instanceof CloudError) {
      const status =
        error.kind === 'KeyNotFound' || error.kind === 'RoleNotFound'
          ? 404
          : error.kind === 'KeyStateConflict'
            ? 409
            : 400;
      return c.json({ error: error.message }, status);
    }
    return c.json({ error: `cloud control API failed: ${error.message}` }, 500);
  });
  return app;
}

/** serveCloudControl serves the control API on a unix socket (0600); close removes it. */
export function serveCloudControl(t: CloudControlTarget, path: string): Promise<{ close(): Promise<void> }> {
  return serveApp(cloudControlApp(t), path);
}
