import type { z } from 'zod';

/**
 * shardValue checks a value read from a shard file against the shape a merged report needs, or throws saying
 * `what` is damaged and where — so a damaged or hostile file is refused by name before any report renders it.
 */
export function shardValue<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new Error(`${what} is damaged at ${issue.path.map(String).join('.') || '(top)'}: ${issue.message}`);
}
