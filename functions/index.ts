/**
 * The entry the Functions host loads (package.json `main` points at its bundle). `startup` loads
 * the configuration first, so a bad setting stops start-up with one line naming it; then every
 * function file registers itself. Add each new function file here.
 */
import './startup.js';
import './health.js';
import './audit.js';
import './me.js';
import './consentLinks.js';
import './consentStart.js';
import './consentCallback.js';
import './consentDone.js';
import './tokens.js';
import './connections.js';
import './connectionProbe.js';
import './housekeeping.js';
import './connectionEvents.js';
import './auditHeads.js';
import './rights.js';
import './rightsChecks.js';
import './superoffice.js';
import './actions.js';
import './webhooks.js';
import './openapi.js';
