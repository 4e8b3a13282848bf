import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';
import { newUntrustedRef, type RefOf, type UntrustedRef } from '../kernel/ids.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { EmailFacts } from '../model/email-facts.js';
import { UntrustedContent } from '../model/trusted-context.js';

/**
 * What triage's sandboxed classifier already read from a content in the same call (closed enums
 * only), kept beside the content under its ref so a read_facts step reuses it instead of asking
 * the model again. It is as untrusted as the content: like it, only tools read it, never the
 * planner, routing or job data.
 */
export const ContentReadings = z.object({ facts: EmailFacts }).strict();
export type ContentReadings = z.infer<typeof ContentReadings>;

/**
 * Untrusted content lives here, once, under an opaque ref with a TTL. Jobs and the planner carry
 * the ref; only tools read through it.
 */
export interface ContentStore {
  putRaw(raw: Buffer): Promise<UntrustedRef>;
  getRaw(ref: UntrustedRef): Promise<Buffer>;
  /** Stores parsed content, and what a sandboxed reader read from it when there is such a reading. */
  putContent(content: UntrustedContent, readings?: ContentReadings): Promise<RefOf<'content'>>;
  getContent(ref: UntrustedRef): Promise<UntrustedContent>;
  /** The readings stored with a content, or null when none were (offline, robots, routed mail, expired). */
  getReadings(ref: UntrustedRef): Promise<ContentReadings | null>;
  putText<K extends 'draft' | 'summary' | 'message'>(kind: K, text: string): Promise<RefOf<K>>;
  getText(ref: UntrustedRef): Promise<string>;
}

export function createContentStore(redis: Redis, keys: RedisKeys, ttlSeconds: number): ContentStore {
  const missing = (ref: UntrustedRef) =>
    new MailroomError('CONTENT_EXPIRED', `content ${ref} is gone (expired after ${ttlSeconds} s or never stored)`);
  return {
    async putRaw(raw) {
      const ref = newUntrustedRef('raw');
      await redis.set(keys.content(ref), raw, 'EX', ttlSeconds);
      return ref;
    },
    async getRaw(ref) {
      const raw = await redis.getBuffer(keys.content(ref));
      if (!raw) throw missing(ref);
      return raw;
    },
    async putContent(content, readings) {
      const ref = newUntrustedRef('content');
      const body = JSON.stringify(UntrustedContent.parse(content));
      // Both writes leave together (the connection pipelines them) and expire together.
      await Promise.all([
        redis.set(keys.content(ref), body, 'EX', ttlSeconds),
        readings ? redis.set(keys.readings(ref), JSON.stringify(ContentReadings.parse(readings)), 'EX', ttlSeconds) : null,
      ]);
      return ref;
    },
    async getReadings(ref) {
      const raw = await redis.get(keys.readings(ref));
      return raw === null ? null : ContentReadings.parse(JSON.parse(raw));
    },
    async getContent(ref) {
      const raw = await redis.get(keys.content(ref));
      if (!raw) throw missing(ref);
      return UntrustedContent.parse(JSON.parse(raw));
    },
    async putText(kind, text) {
      const ref = newUntrustedRef(kind);
      await redis.set(keys.content(ref), text, 'EX', ttlSeconds);
      return ref;
    },
    async getText(ref) {
      const text = await redis.get(keys.content(ref));
      if (text === null) throw missing(ref);
      return text;
    },
  };
}
