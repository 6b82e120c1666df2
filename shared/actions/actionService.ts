import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson } from '../audit/canonical.js';
import type { AuditEntry, AuditOutcome, AuditRecorder } from '../audit/entry.js';
import type { SuperOfficeEnvironment } from '../config/config.js';
import { BrokerError } from '../errors/errors.js';
import { callerId, type Caller } from '../identity/caller.js';
import { CallerDeniedError } from '../identity/denial.js';
import { assertSubject, type Policy } from '../identity/policy.js';
import type { Logger } from '../log/logger.js';
import { parseProxyPath, type ProxyPath } from '../proxy/path.js';
import { actAsOf, type ProxyService } from '../proxy/proxyService.js';
import type { ProxyMethod } from '../proxy/webApiRules.js';
import { authorizeWithEventGrant, EventGrantDeniedError, type EventGrantStore } from '../events/grants.js';
import { MAX_STORED_RESPONSE_BYTES, type ActionRecord, type ActionStore } from './actionStore.js';
import { MAX_ENVELOPE_AGE_MS, openEnvelope, sealEnvelope, type ActionMessage, type EnvelopeRefusal } from './envelope.js';
import type { HmacKeyring } from './hmacKey.js';
import { classifyError, classifyResponse, FINAL_STATES, type AttemptOutcome } from './outcome.js';

/**
 * Reliable actions (docs/acting.md §4, issue 13 points 1-3): `create` accepts an action for a caller
 * (idempotent per caller and `Idempotency-Key`), stores it, and puts a signed envelope on the `actions`
 * queue; `execute` is the queue trigger's work (verify, re-authorize, run through the proxy's call path,
 * store the outcome, throw on transient failures so the host retries); `finishExhausted` ends what reached
 * the poison queue; `get` shows a result to its creator only; `prune` deletes expired results.
 */

export const ACTIONS_QUEUE = 'actions';
export const ACTIONS_POISON_QUEUE = 'actions-poison';
/** Largest JSON body an action may carry (the whole message must fit a 64 KiB queue message after base64). */
export const MAX_ACTION_BODY_BYTES = 32 * 1024;
/** How far ahead `notBefore` may be (the queue's longest visibility delay is 7 days). */
export const MAX_NOT_BEFORE_MS = 6 * 24 * 3600_000;
/** The audit role of every action step. */
const ROLE = 'Actions.Run';

export interface ActionInput {
  readonly ctx: string;
  /** `system` or an associate id. */
  readonly actAs: string;
  readonly request: { readonly method: ProxyMethod; readonly path: string; readonly body?: unknown };
  readonly notBefore?: string;
  readonly notify?: boolean;
}

/** The view `GET /api/actions/{id}` returns. */
export interface ActionView {
  readonly id: string;
  readonly state: ActionRecord['state'];
  readonly ctx: string;
  readonly actAs: string;
  readonly request: { readonly method: string; readonly path: string };
  readonly eventGrant: boolean;
  readonly attempts: number;
  readonly superOfficeStatus?: number;
  readonly errorCode?: string;
  readonly response?: { readonly contentType?: string; readonly body: string; readonly encoding: 'utf8' | 'base64'; readonly truncated: boolean };
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finishedAt?: string;
}

/** The queue the service writes signed envelopes to. */
export interface ActionQueue {
  send(text: string, options: { readonly visibilityTimeoutSec?: number }): Promise<void>;
}

/** Told about every finished action that asked for `notify` (events out, docs/acting.md §6). */
export interface ActionResultNotifier {
  actionFinished(record: ActionRecord): Promise<void>;
}

export interface QueueMessageMeta {
  readonly messageId?: string;
  readonly dequeueCount?: number;
}

export interface ActionServiceOptions {
  readonly environment: SuperOfficeEnvironment;
  readonly store: ActionStore;
  readonly queue: ActionQueue;
  readonly keyring: HmacKeyring;
  readonly policy: () => Policy;
  readonly proxy: Pick<ProxyService, 'call'>;
  readonly grants: Pick<EventGrantStore, 'get'>;
  readonly audit: AuditRecorder;
  readonly logger: Logger;
  /** How long a finished result is kept before the pruning timer deletes it. */
  readonly retentionMs: number;
  /** Time budget of one execution attempt. */
  readonly attemptTimeoutMs: number;
  readonly notifier?: ActionResultNotifier;
  readonly clock?: () => number;
  readonly newId?: () => string;
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

function splitPath(raw: string): ProxyPath {
  const at = raw.indexOf('?');
  return at < 0 ? parseProxyPath(raw) : parseProxyPath(raw.slice(0, at), raw.slice(at));
}

/** The Caller an envelope names (app-only; roles are not re-checked at execution, the policy is). */
function callerOf(action: Pick<ActionMessage, 'caller'>): Caller {
  return { tid: action.caller.tid, oid: action.caller.oid, azp: action.caller.azp, idtyp: 'app', roles: [ROLE], tokenVersion: '2.0' };
}

const TEXT_TYPE = /^(application\/([a-z0-9.+-]*\+)?json|text\/[a-z0-9.+-]+|application\/xml)\b/i;

export class ActionService {
  private readonly clock: () => number;
  private readonly newId: () => string;

  constructor(private readonly options: ActionServiceOptions) {
    this.clock = options.clock ?? Date.now;
    this.newId = options.newId ?? randomUUID;
  }

  /**
   * Checks the caller may make this call (the policy, or an event grant), then accepts the action once
   * per (caller, idempotency key). Throws `validation_failed`, `invalid_proxy_path`, `forbidden`,
   * `conflict` (the key was used with another request), `upstream_unavailable` (storage).
   */
  async create(caller: Caller, idempotencyKey: string, input: ActionInput, grantId?: string): Promise<{ readonly id: string; readonly created: boolean; readonly grant?: string }> {
    if (!/^[\x21-\x7e]{1,128}$/.test(idempotencyKey)) throw new BrokerError('validation_failed', 'Idempotency-Key must be 1-128 visible ASCII characters');
    const path = splitPath(input.request.path);
    const bodyText = input.request.body === undefined ? undefined : JSON.stringify(input.request.body);
    if (bodyText !== undefined && Buffer.byteLength(bodyText, 'utf8') > MAX_ACTION_BODY_BYTES) {
      throw new BrokerError('payload_too_large', `An action body may be at most ${MAX_ACTION_BODY_BYTES} bytes`);
    }
    const now = this.clock();
    const notBefore = input.notBefore === undefined ? undefined : Date.parse(input.notBefore);
    if (notBefore !== undefined && (!Number.isFinite(notBefore) || notBefore - now > MAX_NOT_BEFORE_MS)) {
      throw new BrokerError('validation_failed', 'notBefore must be an ISO-8601 time at most 6 days ahead');
    }
    const env = this.options.environment;
    const fullPath = `${path.path}${path.search}`;
    await this.authorize(caller, { env, ctx: input.ctx, actAs: input.actAs, method: input.request.method, path }, grantId);

    const bodyHash = sha256Hex(canonicalJson({ ctx: input.ctx, actAs: input.actAs, method: input.request.method, path: fullPath, body: input.request.body, notBefore: input.notBefore, notify: input.notify === true, grant: grantId }));
    const id = this.newId();
    const keyExpiresAt = new Date(now + MAX_ENVELOPE_AGE_MS + this.options.retentionMs);
    const claim = await this.options.store.claimKey(callerId(caller), idempotencyKey, { actionId: id, bodyHash, expiresAt: keyExpiresAt });
    if (!claim.created && claim.bodyHash !== bodyHash) {
      throw new BrokerError('conflict', 'This Idempotency-Key was used with a different request');
    }
    const actionId = claim.created ? id : claim.actionId;
    let record = await this.options.store.get(actionId);
    if (record === undefined) {
      const message = this.messageOf(actionId, caller, env, input, fullPath, grantId, now);
      try {
        await this.options.store.create({
          id: actionId, callerId: callerId(caller), tid: caller.tid, oid: caller.oid, azp: caller.azp, env, ctx: input.ctx, actAs: input.actAs,
          method: input.request.method, path: fullPath, bodyHash, grant: grantId, notify: input.notify === true, state: 'queued',
          errorCode: undefined, superOfficeStatus: undefined, responseBody: undefined, responseContentType: undefined, responseTruncated: false,
          attempts: 0, enqueued: false, notBefore: notBefore === undefined ? undefined : new Date(notBefore), createdAt: new Date(now), updatedAt: new Date(now),
          finishedAt: undefined, expiresAt: keyExpiresAt,
        });
      } catch (error) {
        // A concurrent request with the same key created it first.
        if (!(error instanceof BrokerError && error.code === 'conflict')) throw error;
      }
      record = await this.options.store.get(actionId);
      if (record !== undefined && !record.enqueued) await this.enqueue(record, message, notBefore, now);
    } else if (!record.enqueued) {
      // A previous attempt stored the action but crashed before the queue took it: send it now.
      await this.enqueue(record, this.messageOf(actionId, caller, env, input, fullPath, grantId, record.createdAt.getTime()), notBefore, now);
    }
    return { id: actionId, created: claim.created, ...(grantId !== undefined ? { grant: grantId } : {}) };
  }

  /** The action's state and result, for its creator only (anyone else: 404 `not_found`). */
  async get(caller: Caller, id: string): Promise<ActionView> {
    const record = await this.options.store.get(id);
    if (record === undefined || record.callerId !== callerId(caller)) throw new BrokerError('not_found', 'No such action');
    return viewOf(record);
  }

  /**
   * The queue trigger's work for one message. Returns normally when the message is finished (executed,
   * failed permanently, refused, or already final); throws when the host should deliver it again.
   */
  async execute(raw: unknown, meta: QueueMessageMeta = {}): Promise<void> {
    const started = this.clock();
    const opened = await openEnvelope(raw, this.options.keyring, started);
    if (!opened.ok) {
      await this.refuse(opened.reason, opened.claimedId, meta, 'actions', started);
      return;
    }
    const action = opened.action;
    let record = await this.options.store.get(action.id);
    if (record === undefined || record.callerId !== `${action.caller.tid}_${action.caller.oid}`) {
      // Signed by us but its record is gone (pruned) or names another caller: nothing to run.
      await this.refuse('action_unknown', action.id, meta, 'actions', started);
      return;
    }
    if (FINAL_STATES.has(record.state)) {
      this.options.logger.info('actions.duplicate_delivery', { actionId: action.id, state: record.state });
      return;
    }
    record = await this.options.store.update(record, { state: 'running', attempts: record.attempts + 1, updatedAt: new Date(started) });

    let outcome: AttemptOutcome;
    let response: { body: Buffer; contentType: string | undefined } | undefined;
    let flags: string[] = action.grant !== undefined ? ['event_grant'] : [];
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new BrokerError('deadline_exceeded')), this.options.attemptTimeoutMs);
    try {
      const path = splitPath(action.path);
      // The policy as it stands now; an event grant's 15 minutes are counted to when the action was accepted.
      await this.authorize(callerOf(action), { env: action.env, ctx: action.ctx, actAs: action.actAs, method: action.method, path }, action.grant, Date.parse(action.enqueuedAt));
      const bodyBytes = action.body === undefined ? undefined : new Uint8Array(Buffer.from(JSON.stringify(action.body), 'utf8'));
      const result = await this.options.proxy.call({
        ctx: action.ctx,
        actAs: actAsOf(action.actAs),
        method: action.method,
        path,
        headers: new Headers({ accept: 'application/json', ...(bodyBytes !== undefined ? { 'content-type': 'application/json' } : {}) }),
        ...(bodyBytes !== undefined ? { body: bodyBytes } : {}),
        proxyPrefix: `/api/superoffice/${action.ctx}/${action.actAs}/`,
        deadline: started + this.options.attemptTimeoutMs,
        signal: controller.signal,
        correlationId: action.id,
      });
      outcome = classifyResponse(result.status);
      response = { body: result.body, contentType: result.headers['content-type'] };
      flags = [...flags, ...result.flags, ...(result.retried ? ['credential_renewed'] : [])];
    } catch (error) {
      outcome = classifyError(error);
      if (error instanceof EventGrantDeniedError) flags.push(error.grantReason);
      else if (error instanceof CallerDeniedError) flags.push(String(error.reason));
    } finally {
      clearTimeout(timer);
    }

    const now = this.clock();
    const auditOutcome: AuditOutcome = outcome.kind === 'succeeded' ? 'allow' : outcome.errorCode === 'forbidden' ? 'deny' : 'error';
    if (outcome.kind === 'retry') {
      await this.options.store.update(record, { state: 'queued', errorCode: outcome.errorCode, superOfficeStatus: outcome.status, updatedAt: new Date(now) });
      await this.auditStep(action, 'actions.execute', auditOutcome, outcome.errorCode, outcome.status, now - started, [...flags, `attempt_${record.attempts}`, 'will_retry']);
      throw new BrokerError('upstream_unavailable', `Action attempt ${record.attempts} failed transiently (${outcome.errorCode}); the host will retry`);
    }
    const body = response?.body;
    const finished = await this.options.store.update(record, {
      state: outcome.kind === 'succeeded' ? 'succeeded' : 'failed',
      errorCode: outcome.kind === 'failed' ? outcome.errorCode : undefined,
      superOfficeStatus: outcome.status,
      responseBody: body === undefined ? undefined : body.subarray(0, MAX_STORED_RESPONSE_BYTES),
      responseContentType: response?.contentType,
      responseTruncated: body !== undefined && body.byteLength > MAX_STORED_RESPONSE_BYTES,
      updatedAt: new Date(now),
      finishedAt: new Date(now),
      expiresAt: new Date(now + this.options.retentionMs),
    });
    await this.auditStep(action, 'actions.execute', auditOutcome, outcome.kind === 'succeeded' ? 'ok' : outcome.errorCode, outcome.status, now - started, [...flags, `attempt_${record.attempts}`]);
    await this.notify(finished);
  }

  /** The poison-queue trigger: finishes an action whose message failed every dequeue as `failed` / `exhausted`. */
  async finishExhausted(raw: unknown, meta: QueueMessageMeta = {}): Promise<void> {
    const started = this.clock();
    const opened = await openEnvelope(raw, this.options.keyring, started);
    if (!opened.ok) {
      await this.refuse(opened.reason, opened.claimedId, meta, 'actions-poison', started);
      return;
    }
    const action = opened.action;
    const record = await this.options.store.get(action.id);
    if (record === undefined || FINAL_STATES.has(record.state)) return;
    const finished = await this.options.store.update(record, {
      state: 'failed',
      errorCode: 'exhausted',
      updatedAt: new Date(started),
      finishedAt: new Date(started),
      expiresAt: new Date(started + this.options.retentionMs),
    });
    await this.auditStep(action, 'actions.exhausted', 'error', 'exhausted', record.superOfficeStatus, 0, [`attempts_${record.attempts}`, ...(record.errorCode !== undefined ? [`last_${record.errorCode}`] : [])]);
    await this.notify(finished);
  }

  /** Deletes expired results and idempotency keys; returns how many rows went. */
  async prune(): Promise<number> {
    return this.options.store.prune(new Date(this.clock()));
  }

  /** The policy (or the event grant) as it stands now. */
  private async authorize(caller: Caller, call: { env: string; ctx: string; actAs: string; method: ProxyMethod; path: ProxyPath }, grantId: string | undefined, grantAsOf?: number): Promise<void> {
    const webApi = { method: call.method, segments: call.path.segments };
    if (grantId !== undefined) {
      await authorizeWithEventGrant({ policy: this.options.policy(), grants: this.options.grants, caller, operation: 'actions', env: call.env, ctx: call.ctx, actAs: call.actAs, webApi, grantId, now: grantAsOf ?? this.clock() });
      return;
    }
    assertSubject(this.options.policy(), caller, 'actions', {
      env: call.env,
      ctx: call.ctx,
      ...(call.actAs === 'system' ? { systemUser: true } : { associateId: call.actAs }),
      webApi,
    });
  }

  private messageOf(id: string, caller: Caller, env: string, input: ActionInput, path: string, grant: string | undefined, enqueuedAt: number): ActionMessage {
    return {
      id,
      caller: { tid: caller.tid, oid: caller.oid, azp: caller.azp },
      env,
      ctx: input.ctx,
      actAs: input.actAs,
      method: input.request.method,
      path,
      ...(input.request.body !== undefined ? { body: input.request.body } : {}),
      ...(grant !== undefined ? { grant } : {}),
      notify: input.notify === true,
      enqueuedAt: new Date(enqueuedAt).toISOString(),
    };
  }

  private async enqueue(record: ActionRecord, message: ActionMessage, notBefore: number | undefined, now: number): Promise<void> {
    const text = await sealEnvelope({ ...message, enqueuedAt: new Date(now).toISOString() }, this.options.keyring);
    const delaySec = notBefore === undefined ? 0 : Math.max(0, Math.ceil((notBefore - now) / 1000));
    await this.options.queue.send(text, delaySec > 0 ? { visibilityTimeoutSec: delaySec } : {});
    try {
      await this.options.store.update(record, { enqueued: true, updatedAt: new Date(now) });
    } catch (error) {
      // Another request or the executor moved the row on; the message is on the queue either way.
      if (!(error instanceof BrokerError && error.code === 'conflict')) throw error;
    }
  }

  private async refuse(reason: EnvelopeRefusal | 'action_unknown', claimedId: string | undefined, meta: QueueMessageMeta, queue: string, at: number): Promise<void> {
    this.options.logger.warn('actions.message_refused', { reason, queue });
    await this.options.store.recordRefusal({
      reason,
      claimedId,
      queue,
      messageId: meta.messageId,
      at: new Date(at),
      expiresAt: new Date(at + this.options.retentionMs),
    });
    await this.options.audit.record({
      correlationId: meta.messageId ?? randomUUID(),
      caller: null,
      roleUsed: undefined,
      subject: {},
      action: queue === 'actions' ? 'actions.execute' : 'actions.exhausted',
      target: claimedId === undefined ? `queue ${queue}` : `queue ${queue} action ${claimedId}`,
      outcome: 'deny',
      reason: reason === 'action_unknown' ? reason : `envelope_${reason}`,
      httpStatus: undefined,
      upstreamStatus: undefined,
      latencyMs: this.clock() - at,
      functionName: queue === 'actions' ? 'actionsExecute' : 'actionsPoison',
    });
  }

  private async auditStep(action: ActionMessage, name: string, outcome: AuditOutcome, reason: string, upstreamStatus: number | undefined, latencyMs: number, flags: readonly string[]): Promise<void> {
    const entry: AuditEntry = {
      correlationId: action.id,
      caller: callerOf(action),
      roleUsed: ROLE,
      subject: { env: action.env, ctx: action.ctx, ...(action.actAs === 'system' ? {} : { associateId: action.actAs }) },
      action: name,
      target: `${action.method} ${action.path.split('?')[0] ?? ''} as ${action.actAs} action ${action.id}${action.grant !== undefined ? ` grant ${action.grant}` : ''}`,
      outcome,
      reason,
      httpStatus: undefined,
      upstreamStatus,
      latencyMs,
      functionName: name === 'actions.execute' ? 'actionsExecute' : 'actionsPoison',
      flags,
    };
    await this.options.audit.record(entry);
  }

  private async notify(record: ActionRecord): Promise<void> {
    if (!record.notify || this.options.notifier === undefined) return;
    await this.options.notifier.actionFinished(record);
  }
}

/** The caller-facing view of a record. */
export function viewOf(record: ActionRecord): ActionView {
  const body = record.responseBody;
  const isText = record.responseContentType !== undefined && TEXT_TYPE.test(record.responseContentType);
  return {
    id: record.id,
    state: record.state,
    ctx: record.ctx,
    actAs: record.actAs,
    request: { method: record.method, path: record.path },
    eventGrant: record.grant !== undefined,
    attempts: record.attempts,
    ...(record.superOfficeStatus !== undefined ? { superOfficeStatus: record.superOfficeStatus } : {}),
    ...(record.errorCode !== undefined ? { errorCode: record.errorCode } : {}),
    ...(body !== undefined && body.byteLength > 0
      ? {
          response: {
            ...(record.responseContentType !== undefined ? { contentType: record.responseContentType } : {}),
            body: isText ? body.toString('utf8') : body.toString('base64'),
            encoding: isText ? ('utf8' as const) : ('base64' as const),
            truncated: record.responseTruncated,
          },
        }
      : {}),
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
    ...(record.finishedAt !== undefined ? { finishedAt: record.finishedAt.toISOString() } : {}),
  };
}
