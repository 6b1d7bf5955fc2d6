import type { WorkerAdmitted, WorkerOutput } from './pipeline.types.js';

/** The item a Worker sends first, once it has taken a request. */
export const ADMITTED: WorkerAdmitted = { admitted: true };

export function isAdmitted(output: WorkerOutput): output is WorkerAdmitted {
  return (output as Partial<WorkerAdmitted>).admitted === true;
}
