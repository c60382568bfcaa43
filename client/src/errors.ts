// Typed errors: every failure of the SDK is a MiniappError.

import type { ErrorCode } from './types.js';

/** Codes the client makes itself (no HTTP answer, or no usable one). */
export type ClientErrorCode =
  /** No answer: connection refused, DNS, reset, offline. */
  | 'NetworkError'
  /** No answer within `timeoutMs`. */
  | 'Timeout'
  /** A call that needs a session, with none kept on this device. */
  | 'NotLoggedIn'
  /** An answer that is not the API's JSON (e.g. a proxy's HTML error page). */
  | 'InvalidResponse'
  /** Not possible on this platform (e.g. login() without a code outside Alipay). */
  | 'Unsupported'
  /** A bad argument, found before sending (e.g. an id the API would refuse). */
  | 'InvalidArgument'
  /** The storage (`storage` option, my/wx storage, localStorage) failed, e.g. full. */
  | 'StorageError';

/** An API code, a client code, or (from a newer server or `miniapp dev`) another string. */
// `string & {}` keeps editor completion for the known codes.
// eslint-disable-next-line @typescript-eslint/ban-types
export type AnyErrorCode = ErrorCode | ClientErrorCode | (string & {});

export interface MiniappErrorInit {
  code: AnyErrorCode;
  message: string;
  /** HTTP status; 0 when there was no HTTP answer. */
  status?: number;
  requestId?: string;
  /** Seconds, from `Retry-After`. */
  retryAfter?: number;
  /** The failing operation of a batch (`db.batch`), from 0. */
  index?: number;
}

export class MiniappError extends Error {
  readonly code: AnyErrorCode;
  /** HTTP status; 0 when there was no HTTP answer. */
  readonly status: number;
  /** The server's request id (`x-request-id`), when it answered. */
  readonly requestId?: string;
  /** Seconds the server asked to wait (`Retry-After`), on 429 and 503. */
  readonly retryAfter?: number;
  /** On a failed `db.batch`: the operation that failed, from 0. */
  readonly index?: number;

  constructor(init: MiniappErrorInit) {
    super(init.message);
    this.name = 'MiniappError';
    this.code = init.code;
    this.status = init.status === undefined ? 0 : init.status;
    if (init.requestId !== undefined) this.requestId = init.requestId;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
    if (init.index !== undefined) this.index = init.index;
  }
}

/**
 * The session is over (`SessionExpired`, `SessionRevoked`) or there is none (`NotLoggedIn`):
 * sign in again.
 */
export class LoggedOutError extends MiniappError {
  constructor(init: MiniappErrorInit) {
    super(init);
    this.name = 'LoggedOutError';
  }
}

/** No HTTP answer: `NetworkError` or `Timeout` (status 0). */
export class NetworkError extends MiniappError {
  constructor(init: MiniappErrorInit) {
    super(init);
    this.name = 'NetworkError';
  }
}

/** Whether `err` is a MiniappError with this code. */
export function isMiniappError(err: unknown, code?: AnyErrorCode): err is MiniappError {
  return err instanceof MiniappError && (code === undefined || err.code === code);
}
