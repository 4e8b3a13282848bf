export * from './tool.js';
export * from './registry.js';
export * from './knowledge-base.js';
export * from './mailer.js';
export { classifyContent, classifyOffline } from './classify-email.js';
export { outboundMessageId, automaticHeaders } from './outbound-headers.js';
export { linksIn, disallowedLinks } from './reply-links.js';
