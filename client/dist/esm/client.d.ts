import type { ClientOptions, MiniappClient } from './api.js';
/** Creates a client. Nothing is sent until the first call. */
export declare function createClient(options: ClientOptions): MiniappClient;
