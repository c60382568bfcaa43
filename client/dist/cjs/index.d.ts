export * from '../esm/index.js';
