import { z } from 'zod';
import { MailroomError } from '../kernel/errors.js';

/** A successful token response (RFC 6749 §5.1); `expires_in` arrives as a number or, from some servers, a string. */
export const TokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.coerce.number().positive().optional(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
export type TokenResponse = z.infer<typeof TokenResponse>;

/** An error response (RFC 6749 §5.2, RFC 8628 §3.5). */
export const OAuthErrorResponse = z.object({
  error: z.string().regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,100}$/, 'an error code'),
  error_description: z.string().optional(),
});
export type OAuthErrorResponse = z.infer<typeof OAuthErrorResponse>;

/** What a token-style endpoint answered: its HTTP status and its JSON body. */
export interface EndpointAnswer {
  status: number;
  body: unknown;
}

/** How long one request to a token or device endpoint may take. */
export const ENDPOINT_TIMEOUT_MS = 15_000;

/**
 * POSTs a form to an OAuth2 endpoint and reads its JSON answer. A network failure, a timeout or a
 * body that is not JSON is `OAUTH_UNAVAILABLE`; the caller decides on the status and the body.
 * The form holds secrets, so no error carries it.
 */
export async function postForm(url: string, form: Record<string, string>, signal?: AbortSignal): Promise<EndpointAnswer> {
  const host = new URL(url).host;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(ENDPOINT_TIMEOUT_MS)]) : AbortSignal.timeout(ENDPOINT_TIMEOUT_MS),
      redirect: 'error',
    });
  } catch (err) {
    const code = err instanceof Error ? (err.cause instanceof Error && 'code' in err.cause ? String(err.cause.code) : err.name) : 'error';
    throw new MailroomError('OAUTH_UNAVAILABLE', `OAuth2 endpoint ${host} cannot be reached (${code})`, { cause: err });
  }
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch (err) {
    throw new MailroomError('OAUTH_UNAVAILABLE', `OAuth2 endpoint ${host} answered ${response.status} without JSON`, { cause: err });
  }
}
