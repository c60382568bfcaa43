// The HTTP API's shapes, written by hand from openapi.yaml (CONTRACT.md §3-§5).
// test/unit/types.test.mjs checks that ErrorCode below equals the Error schema's code enum in
// openapi.yaml.
export {};
