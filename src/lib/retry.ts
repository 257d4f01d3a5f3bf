/**
 * Bounded retries with full jitter for optimistic-concurrency writes (read → compute → write
 * guarded by `WHERE version = ?`). Contention between concurrent IdP requests is resolved here,
 * never handed to the client: Entra ID and Okta send requests in parallel, and a 503 makes them
 * back off or quarantine the app.
 */

/** What one attempt returns: the result, or `retry` after losing a race (nothing was written). */
export type Attempt<T> = { done: true; value: T } | { done: false };

export interface RetryOptions {
  /** Attempts before giving up (each one is a fresh read). */
  maxAttempts: number;
  /** Upper bound of the first back-off, in milliseconds; doubles per attempt up to `capMs`. */
  baseMs: number;
  capMs: number;
}

/** Enough for 50 clients racing on one resource, while a stuck writer still fails within ~1.5 s. */
export const WRITE_RETRY: RetryOptions = { maxAttempts: 40, baseMs: 2, capMs: 40 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it is done or the attempts run out (then `undefined`). Between attempts it
 * sleeps a uniformly random time in [0, min(cap, base·2ⁿ)) ("full jitter"), so racing writers spread out
 * instead of colliding again in lockstep.
 */
export async function retryWithJitter<T>(attempt: (n: number) => Promise<Attempt<T>>, options: RetryOptions = WRITE_RETRY): Promise<T | undefined> {
  for (let n = 0; n < options.maxAttempts; n++) {
    if (n > 0) await sleep(Math.random() * Math.min(options.capMs, options.baseMs * 2 ** n));
    const result = await attempt(n);
    if (result.done) return result.value;
  }
  return undefined;
}
