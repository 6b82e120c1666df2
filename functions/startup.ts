import { getRuntime } from '../shared/runtime/runtime.js';

// Imported first by the entry: a bad or missing setting throws here, before any function registers.
getRuntime();
