import { z } from 'zod';

/**
 * Who writes the Authentication-Results Mailroom believes, and where they stand. Hosted providers
 * (Gmail, Microsoft 365, Fastmail) stamp every message they accept, so the topmost header is
 * theirs; a self-run MTA with a milter (rspamd, OpenDKIM + OpenDMARC) writes one only while the
 * milter runs and scans, so there the header counts only above the Received line of our MTA's own
 * SMTP hop, where no sender can write, or (with `inboundResultsRemoved`: the MTA deletes every
 * sender-written one) directly below it, where Postfix puts its milters' headers.
 */
export const VerificationProfile = z.enum([
  'generic',
  'rspamd',
  'opendkim-opendmarc',
  'gmail',
  'microsoft365',
  'fastmail',
]);
export type VerificationProfile = z.infer<typeof VerificationProfile>;

/**
 * What Mailroom's own DKIM/DMARC check (mailauth, in src/mail/local-auth.ts) found, reduced to
 * the facts `verifySender` needs. Computed by us, so trusted; consulted when no
 * Authentication-Results count (see trustedAuthResults). `unsignedBytes` is how much of the body
 * an `l=` tag left outside the signature (0: all of it is signed).
 */
export const LocalAuthResult = z.object({
  /** DMARC evaluated on DKIM alone (no SPF: we do not know the connecting IP). Null: no record or not evaluated. */
  dmarc: z
    .object({ result: z.string(), headerFrom: z.string(), unsignedBytes: z.number().int().nonnegative() })
    .nullable(),
  dkim: z.array(
    z.object({
      domain: z.string(),
      /** `s=` and the start of `b=`: which DKIM-Signature of the message this result is for. */
      selector: z.string().optional(),
      b: z.string().optional(),
      result: z.string(),
      unsignedBytes: z.number().int().nonnegative(),
    }),
  ),
});
export type LocalAuthResult = z.infer<typeof LocalAuthResult>;
