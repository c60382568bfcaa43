// The SDK's public interfaces. Kept stable: apps (examples/todo) are written against them.
export {};
