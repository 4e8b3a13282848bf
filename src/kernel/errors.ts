/**
 * Every Mailroom failure has a stable code, a human message and whether retrying can help.
 * The CLI maps a code to one line and an exit status; the daemon maps it to a dead-letter reason.
 * Decide with `instanceof MailroomError` and `code`, never by matching message text.
 */
export const ErrorCodes = {
  CONFIG_INVALID: { exit: 78, retryable: false },
  INPUT_NOT_FOUND: { exit: 66, retryable: false },
  /** A dead letter that cannot run again as it is (never read, archived, moved on, its job or text gone). */
  NOT_REQUEUEABLE: { exit: 65, retryable: false },
  INPUT_NOT_EMAIL: { exit: 65, retryable: false },
  REDIS_UNREACHABLE: { exit: 69, retryable: true },
  REDIS_NOT_INSTALLED: { exit: 69, retryable: false },
  /** The history store's PostgreSQL (`DATABASE_URL`) cannot be reached or refused us (down, wrong host, password or database). */
  DATABASE_UNREACHABLE: { exit: 69, retryable: true },
  EMAIL_MALFORMED: { exit: 65, retryable: false },
  EMAIL_TOO_LARGE: { exit: 65, retryable: false },
  CONTENT_EXPIRED: { exit: 70, retryable: false },
  JOB_DATA_INVALID: { exit: 70, retryable: false },
  JOB_STALLED: { exit: 70, retryable: false },
  PLAN_INVALID: { exit: 70, retryable: false },
  TOOL_UNKNOWN: { exit: 70, retryable: false },
  TOOL_INPUT_INVALID: { exit: 70, retryable: false },
  TOOL_OUTPUT_INVALID: { exit: 70, retryable: false },
  TAINT_VIOLATION: { exit: 70, retryable: false },
  SENDER_UNVERIFIED: { exit: 70, retryable: false },
  DELIVERY_UNKNOWN: { exit: 70, retryable: false },
  NEEDS_REVIEW: { exit: 70, retryable: false },
  SMTP_TRANSIENT: { exit: 75, retryable: true },
  SMTP_REJECTED: { exit: 70, retryable: false },
  LLM_UNAVAILABLE: { exit: 69, retryable: true },
  LLM_OUTPUT_INVALID: { exit: 70, retryable: false },
  KB_ARTICLE_UNKNOWN: { exit: 70, retryable: false },
  ACCOUNT_MISMATCH: { exit: 70, retryable: false },
  ORDER_NOT_FOUND: { exit: 70, retryable: false },
  REFUND_OVER_CAP: { exit: 70, retryable: false },
  TEAM_UNKNOWN: { exit: 70, retryable: false },
  WEBHOOK_FAILED: { exit: 75, retryable: true },
  WEBHOOK_REJECTED: { exit: 70, retryable: false },
  TIMEOUT: { exit: 75, retryable: false },
  IMAP_UNREACHABLE: { exit: 69, retryable: true },
  IMAP_AUTH_FAILED: { exit: 77, retryable: false },
  /** The account's `tls` mode does not match the port (TLS to a plain port, STARTTLS not offered). */
  IMAP_TLS_FAILED: { exit: 78, retryable: false },
  IMAP_MESSAGE_GONE: { exit: 70, retryable: false },
  IMAP_COMMAND_FAILED: { exit: 70, retryable: true },
  /** The provider refused the OAuth2 refresh token (`invalid_grant`: expired or revoked); `mailroom auth login` stores a new one. */
  OAUTH_REFRESH_REJECTED: { exit: 77, retryable: false },
  /** The OAuth2 refresh-token file is missing or empty: nobody has run `mailroom auth login` for it yet. */
  OAUTH_NO_REFRESH_TOKEN: { exit: 78, retryable: false },
  /** The provider refused the OAuth2 client or its scopes (`invalid_client`, `unauthorized_client`, `invalid_scope`). */
  OAUTH_CLIENT_REJECTED: { exit: 77, retryable: false },
  /** The token endpoint could not be reached or answered with something other than a token or an OAuth2 error. */
  OAUTH_UNAVAILABLE: { exit: 69, retryable: true },
  /** The device-code sign-in ended without a token: denied, or its code expired. */
  OAUTH_LOGIN_FAILED: { exit: 77, retryable: false },
  INTERNAL: { exit: 70, retryable: false },
} as const satisfies Record<string, { exit: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

/** A failure with a stable `MAILROOM_*` code. */
export class MailroomError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MailroomError';
    this.code = code;
    this.retryable = options?.retryable ?? ErrorCodes[code].retryable;
  }

  /** The code as users and dead-letter entries see it, e.g. `MAILROOM_PLAN_INVALID`. */
  get publicCode(): string {
    return `MAILROOM_${this.code}`;
  }

  get exitCode(): number {
    return ErrorCodes[this.code].exit;
  }
}

/** Wraps anything thrown into a MailroomError, keeping the original as `cause`. */
export function toMailroomError(err: unknown, fallback: ErrorCode = 'INTERNAL'): MailroomError {
  if (err instanceof MailroomError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MailroomError(fallback, message, { cause: err });
}
