import { isAdmitted } from '../protocol/admission.js';
import type { GenerateOutput, WorkerOutput } from '../protocol/pipeline.types.js';

/** A worker's token stream, once the worker has admitted the request. */
export class AdmittedTokens implements AsyncIterable<GenerateOutput> {
  private constructor(private readonly iterator: AsyncIterator<WorkerOutput>) {}

  /**
   * Waits for the worker's `ADMITTED` item, which comes before any token: its refusal (a full queue)
   * is thrown here, while the client can still be answered with a status.
   */
  static async of(stream: AsyncIterable<WorkerOutput>): Promise<AdmittedTokens> {
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    if (first.done || !isAdmitted(first.value)) {
      await iterator.return?.();
      throw new Error('The worker answered without admitting the request.');
    }
    return new AdmittedTokens(iterator);
  }

  /** Every item after `ADMITTED` is a GenerateOutput (the worker's protocol). */
  [Symbol.asyncIterator](): AsyncIterator<GenerateOutput> {
    return this.iterator as AsyncIterator<GenerateOutput>;
  }

  /** Stops the worker's stream, which gives back its slot or its place in the queue. */
  async stop(): Promise<void> {
    await this.iterator.return?.();
  }
}

/**
 * Waits for every admission; if one fails, stops the others (so a refused request holds no place in
 * any queue) and throws its error.
 */
export async function admitAll(admissions: ReadonlyArray<Promise<AdmittedTokens>>): Promise<AdmittedTokens[]> {
  const settled = await Promise.allSettled(admissions);
  const refused = settled.find((result) => result.status === 'rejected');
  const admitted = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  if (refused === undefined) return admitted;
  await Promise.all(admitted.map((tokens) => tokens.stop()));
  throw refused.reason;
}
