/**
 * The entry the Functions host loads (package.json `main` points at its bundle). `startup` loads
 * the configuration first, so a bad setting stops start-up with one line naming it; then every
 * function file registers itself. Add each new function file here.
 */
import './startup.js';
import './health.js';
