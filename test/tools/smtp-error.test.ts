import { describe, expect, it } from 'vitest';
import { smtpError } from '../../src/mail/mailer.js';
import { mailNotDelivered } from '../../src/tools/outbound-headers.js';

/** Nodemailer's errors are plain Errors with these fields set by case (nodemailer 7–10). */
function failure(fields: Record<string, unknown>): Error {
  return Object.assign(new Error('Greeting never received: 250 not-for-logs@customer.example'), fields);
}

describe('smtpError sorts an SMTP failure by what it proves', () => {
  it.each([
    ['a refused connection (nodemailer 10: ESOCKET wrapping ECONNREFUSED)', { code: 'ESOCKET', originalCode: 'ECONNREFUSED', command: 'CONN' }, 'SMTP_TRANSIENT', 'ECONNREFUSED'],
    ['an unknown host', { code: 'EDNS', originalCode: 'ENOTFOUND' }, 'SMTP_TRANSIENT', 'ENOTFOUND'],
    ['a failed TLS handshake', { code: 'ETLS' }, 'SMTP_TRANSIENT', 'ETLS'],
    ['a refused login', { code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }, 'SMTP_TRANSIENT', '535 at AUTH PLAIN'],
    ['a 451 at RCPT TO', { code: 'EENVELOPE', responseCode: 451, command: 'RCPT TO' }, 'SMTP_TRANSIENT', '451 at RCPT TO'],
    ['a 550 after DATA', { code: 'EMESSAGE', responseCode: 550, command: 'DATA' }, 'SMTP_REJECTED', '550 at DATA'],
    ['a 503 (bad sequence: the session, not the message)', { code: 'EPROTOCOL', responseCode: 503, command: 'MAIL FROM' }, 'SMTP_TRANSIENT', '503 at MAIL FROM'],
    ['a greeting that never came', { code: 'ETIMEDOUT', timeoutType: 'GREETING_TIMEOUT' }, 'SMTP_TRANSIENT', 'GREETING_TIMEOUT'],
    ['a socket timeout once the session was up', { code: 'ETIMEDOUT', timeoutType: 'SOCKET_TIMEOUT' }, 'DELIVERY_UNKNOWN', 'SOCKET_TIMEOUT'],
    ['a connection reset mid-session', { code: 'ESOCKET', originalCode: 'ECONNRESET' }, 'DELIVERY_UNKNOWN', 'ECONNRESET'],
    ['something that is not nodemailer’s', {}, 'DELIVERY_UNKNOWN', 'connection failed'],
  ])('%s', (_what, fields, code, cause) => {
    const e = smtpError(failure(fields));
    expect(e.code).toBe(code);
    expect(e.message).toContain(cause);
    // The server's reply text may quote addresses: only codes reach the message.
    expect(e.message).not.toContain('customer.example');
    expect(mailNotDelivered(e)).toBe(code !== 'DELIVERY_UNKNOWN');
  });
});
