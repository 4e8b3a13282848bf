export * from './catalog.js';
export * from './connection.js';
export * from './embedded-redis.js';
export * from './keys.js';
