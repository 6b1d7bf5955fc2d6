/** Why an incoming id was not kept. @publicApi */
export type RejectionReason = 'too-long' | 'invalid-characters' | 'multiple-values';

/** The outcome of checking one incoming id. @publicApi */
export type IncomingIdVerdict =
  | { accepted: true; id: string }
  | { accepted: false; reason: RejectionReason; length: number }
  | { accepted: false; reason: 'absent'; length: 0 };

// One character class, so that the check is one linear regex pass with no backtracking.
const ALLOWED_ID = /^[A-Za-z0-9._:/+=@-]+$/;

/**
 * Applies the incoming-id policy (docs/tracing.md) to a header value as Node delivers it: accepted byte for
 * byte when it is one value of 1 to `maxLength` characters from `A-Z a-z 0-9 . _ : / + = @ -`,
 * `absent` when missing or empty, rejected with a reason otherwise. Never throws.
 * @publicApi
 */
export function checkIncomingRequestId(value: unknown, maxLength: number): IncomingIdVerdict {
  if (value === undefined || value === null || value === '') return { accepted: false, reason: 'absent', length: 0 };
  if (Array.isArray(value)) return { accepted: false, reason: 'multiple-values', length: value.join(', ').length };
  if (typeof value !== 'string') return { accepted: false, reason: 'invalid-characters', length: 0 };
  if (value.length > maxLength) return { accepted: false, reason: 'too-long', length: value.length };
  if (!ALLOWED_ID.test(value)) {
    // Node joins repeated headers with ", "; a comma can come from nowhere else in a valid id.
    const reason = value.includes(',') ? 'multiple-values' : 'invalid-characters';
    return { accepted: false, reason, length: value.length };
  }
  return { accepted: true, id: value };
}

/** Whether `id` is one that Threadline would accept from a peer (and so may echo in a header). @publicApi */
export function isValidRequestId(id: unknown, maxLength: number): id is string {
  return typeof id === 'string' && id.length >= 1 && id.length <= maxLength && ALLOWED_ID.test(id);
}
