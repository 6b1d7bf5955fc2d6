/**
 * A refusal the service expects to make (bad input, no capacity): logged as one warning line without a
 * stack, so none is captured. Under a flood the refusals are many, and capturing a stack is most of the
 * cost of making one (`bench:hostile` measures a flood's refusals).
 */
export abstract class ExpectedRefusal extends Error {
  readonly expected = true;

  constructor(message: string) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
  }
}
