// Typed errors: every failure of the SDK is a MiniappError.
export class MiniappError extends Error {
    constructor(init) {
        super(init.message);
        this.name = 'MiniappError';
        this.code = init.code;
        this.status = init.status === undefined ? 0 : init.status;
        if (init.requestId !== undefined)
            this.requestId = init.requestId;
        if (init.retryAfter !== undefined)
            this.retryAfter = init.retryAfter;
        if (init.index !== undefined)
            this.index = init.index;
    }
}
/**
 * The session is over (`SessionExpired`, `SessionRevoked`) or there is none (`NotLoggedIn`):
 * sign in again.
 */
export class LoggedOutError extends MiniappError {
    constructor(init) {
        super(init);
        this.name = 'LoggedOutError';
    }
}
/** No HTTP answer: `NetworkError` or `Timeout` (status 0). */
export class NetworkError extends MiniappError {
    constructor(init) {
        super(init);
        this.name = 'NetworkError';
    }
}
/** Whether `err` is a MiniappError with this code. */
export function isMiniappError(err, code) {
    return err instanceof MiniappError && (code === undefined || err.code === code);
}
