import { ClientDisconnectedError, getRequestSignal } from '@threadline/tracing';

/** Whether the request's client has gone: its request cancelled by the client's leaving, not by its deadline. */
export function isClientGone(): boolean {
  return getRequestSignal()?.reason instanceof ClientDisconnectedError;
}
