import type { InvocationContext, Timer } from '@azure/functions';
import { timerSchedule } from '../shared/config/config.js';
import { createHeadSigner, type HeadSigner } from '../shared/audit/headSigner.js';
import { AUDIT_HEADS_CONTAINER, BlobDigestStore } from '../shared/audit/headStore.js';
import { AUDIT_HEADS_TABLE, AUDIT_TABLE } from '../shared/audit/tableSink.js';
import { registerTimer } from '../shared/runtime/registry.js';
import { getRuntime, type Runtime } from '../shared/runtime/runtime.js';

/**
 * Every 5 minutes by default (`AUDIT_HEADS_SCHEDULE`): signs the heads of the audit lanes of the last
 * hours and appends them to the write-once blob store (requirement 61; docs/audit.md "Signed heads").
 * Deleting a lane's last records after its head was signed is then reported by `npm run audit:verify`.
 */

const signers = new WeakMap<Runtime, HeadSigner>();

export function headSignerOf(runtime: Runtime): HeadSigner {
  let signer = signers.get(runtime);
  if (signer === undefined) {
    signer = createHeadSigner({
      records: runtime.storage.table(AUDIT_TABLE),
      heads: runtime.storage.table(AUDIT_HEADS_TABLE),
      store: new BlobDigestStore(runtime.storage.container(AUDIT_HEADS_CONTAINER)),
      secrets: runtime.secrets,
      logger: runtime.logger.child({ service: 'auditHeads' }),
    });
    signers.set(runtime, signer);
  }
  return signer;
}

export async function auditHeadsHandler(timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  try {
    const result = await headSignerOf(runtime).run(AbortSignal.timeout(4 * 60_000));
    runtime.logger.info('timer.audit_heads', { invocationId: context.invocationId, isPastDue: timer.isPastDue, detail: result });
  } catch (error) {
    // The next run signs what this one could not; the failure is logged and the run fails for the host.
    runtime.logger.error('timer.audit_heads_failed', { invocationId: context.invocationId, errorName: error instanceof Error ? error.name : typeof error });
    throw error;
  }
}

registerTimer('auditHeads', { schedule: timerSchedule('AUDIT_HEADS_SCHEDULE'), handler: auditHeadsHandler });
