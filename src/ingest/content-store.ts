import { MailroomError } from '../errors.js';
import { newUntrustedRef, type RefOf, type UntrustedRef } from '../ids.js';
import type { Redis } from '../queues/connection.js';
import type { RedisKeys } from '../queues/keys.js';
import { UntrustedContent } from './trusted-context.js';

/**
 * Untrusted content lives here, once, under an opaque ref with a TTL. Jobs and the planner carry
 * the ref; only tools read through it.
 */
export interface ContentStore {
  putRaw(raw: Buffer): Promise<UntrustedRef>;
  getRaw(ref: UntrustedRef): Promise<Buffer>;
  putContent(content: UntrustedContent): Promise<RefOf<'content'>>;
  getContent(ref: UntrustedRef): Promise<UntrustedContent>;
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
    async putContent(content) {
      const ref = newUntrustedRef('content');
      await redis.set(keys.content(ref), JSON.stringify(UntrustedContent.parse(content)), 'EX', ttlSeconds);
      return ref;
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
