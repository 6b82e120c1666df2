import { getRuntime } from '../shared/runtime/runtime.js';

// Imported first by the entry: a bad or missing setting, or a malformed policy, throws here before any
// function registers (one line naming the setting or the policy path).
void getRuntime().policy;
// The event subscribers document (EVENT_SUBSCRIBERS) is validated at start in the same way.
void getRuntime().events;
