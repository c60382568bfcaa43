/** The UTF-8 bytes of `s`; a lone surrogate becomes U+FFFD, as TextEncoder and fetch do. */
export declare function utf8Encode(s: string): Uint8Array;
/** Whether `b` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
export declare function isUtf8(b: Uint8Array): boolean;
