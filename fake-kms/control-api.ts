import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { z } from 'zod';
import { KeyringError } from '../sim/index.js';
import { FaultSpec, KMS_METHODS } from './faults.js';
import type { Keyring } from '../sim/index.js';
import type { DisabledKeyStatus } from './keyring-plugin.js';
import { HEALTH_STYLES, healthStyleNamed } from './names.js';
import type { KmsService } from './service.js';

/**
 * ControlTarget is what the control API drives: a KMS service (faults and audit), its socket, and — for a plugin
 * whose keys kmslab owns, the fake KMS — key lifecycle. Behind the proxy there are no keys to drive here.
 */
export interface ControlTarget {
  readonly service: KmsService;
  describe(): unknown | Promise<unknown>;
  startPlugin(): Promise<void>;
  stopPlugin(): Promise<void>;
  /** The health style (what Status does once the key is disabled), where it can be set: the fake KMS, the proxy. */
  setDisabledKeyStatus?(mode: DisabledKeyStatus): void;
  keys?: KeyControl;
}

export interface KeyControl {
  /** mutate runs one keyring change and persists it before answering. */
  mutate<T>(change: (ring: Keyring) => T): Promise<T>;
  /** resolveKeyId accepts a full key_id, or a version number of the active key (`2` or `v2`). */
  resolveKeyId(ref: string): string;
  setDisabledKeyStatus(mode: DisabledKeyStatus): void;
}

const KeyName = z.strictObject({ name: z.string().min(1) });
const RotateBody = z.strictObject({ key: z.string().min(1).optional() });
// A style by its name or its first name (unhealthy, error), stored under its name.
const Settings = z.strictObject({
  disabledKeyStatus: z.string().transform((name, ctx) => {
    const style = healthStyleNamed(name);
    if (!style) ctx.addIssue({ code: 'custom', message: `use one of ${HEALTH_STYLES.join(', ')}` });
    return style ?? z.NEVER;
  }),
});
const AuditQuery = z.strictObject({
  afterSeq: z.coerce.number().int().min(0).optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
  method: z.enum(KMS_METHODS).optional(),
  code: z.string().optional(),
  limit: z.coerce.number().int().positive().optional(),
});

const MAX_BODY_BYTES = 64 * 1024;

/** ControlError is an answer with a status and a message that says what to do. */
export class ControlError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/**
 * controlApp is the control API of the fake KMS and of the proxy: JSON over HTTP, meant to be served on a private
 * unix socket. Every body and query is validated; a bad one gets a 400 naming the field, and changes nothing.
 */
export function controlApp(kms: ControlTarget): Hono {
  const app = new Hono();
  // Every body here is a small JSON object; a larger one is refused before it is read into memory.
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        c.json({ error: `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(' or ')}` }, 405, {
          Allow: methods.join(', '),
        }),
    }),
  );
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        c.json({ error: `request body is larger than ${MAX_BODY_BYTES} bytes; send a small JSON object` }, 413),
    }),
  );

  app.get('/status', async (c) => c.json(await kms.describe()));

  const keys = kms.keys;
  if (keys) {
    app.post('/keys', async (c) => {
      const { name } = parse(KeyName, await body(c));
      return c.json(await keys.mutate((ring) => ring.createKey(name)), 201);
    });
    app.post('/keys/use', async (c) => {
      const { name } = parse(KeyName, await body(c));
      return c.json(await keys.mutate((ring) => ring.useKey(name)));
    });
    app.post('/keys/rotate', async (c) => {
      const { key } = parse(RotateBody, await body(c, {}));
      return c.json(await keys.mutate((ring) => ring.rotate(key)));
    });
    for (const action of ['disable', 'enable', 'destroy'] as const) {
      app.post(`/keys/:keyId/${action}`, async (c) => {
        const keyId = keys.resolveKeyId(c.req.param('keyId'));
        return c.json(await keys.mutate((ring) => ring[action](keyId)));
      });
    }
  }

  const setStyle = keys ? (m: DisabledKeyStatus) => keys.setDisabledKeyStatus(m) : kms.setDisabledKeyStatus?.bind(kms);
  if (setStyle) {
    app.put('/settings', async (c) => {
      setStyle(parse(Settings, await body(c)).disabledKeyStatus);
      return c.json(await kms.describe());
    });
  }

  app.get('/faults', (c) => c.json(kms.service.faults.list()));
  app.post('/faults', async (c) => c.json(kms.service.faults.add(parse(FaultSpec, await body(c))), 201));
  app.delete('/faults', (c) => c.json({ cleared: kms.service.faults.clear() }));
  app.delete('/faults/:id', (c) => {
    const cleared = kms.service.faults.clear(c.req.param('id'));
    if (cleared === 0) throw new ControlError(404, `no fault with id ${c.req.param('id')}; GET /faults lists them`);
    return c.json({ cleared });
  });

  app.post('/plugin/stop', async (c) => {
    await kms.stopPlugin();
    return c.json(await kms.describe());
  });
  app.post('/plugin/start', async (c) => {
    await kms.startPlugin();
    return c.json(await kms.describe());
  });

  app.get('/audit', (c) => c.json(kms.service.audit.query(parse(AuditQuery, c.req.query()))));
  app.get('/audit/counters', (c) => c.json(kms.service.audit.counters()));
  app.get('/metrics', (c) => c.text(kms.service.audit.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4' }));

  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.onError((error, c) => {
    if (error instanceof ControlError) return c.json({ error: error.message }, error.status);
    if (error instanceof KeyringError) {
      return c.json(
        { error: error.message },
        error.code === 'NOT_FOUND' ? 404 : error.code === 'INVALID_ARGUMENT' ? 400 : 409,
      );
    }
    return c.json({ error: `fake-kms control API failed: ${error.message}` }, 500);
  });
  return app;
}

/** body reads a request's JSON body; an empty one is `empty` when given, else a 400. */
export async function body(c: Context, empty?: unknown): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') {
    if (empty !== undefined) return empty;
    throw new ControlError(400, 'request body is empty; send a JSON object');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ControlError(400, 'request body is not valid JSON');
  }
}

/** parse validates a value with a zod schema; a bad one is a 400 naming the field. */
export function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ControlError(400, z.prettifyError(result.error));
  return result.data;
}
