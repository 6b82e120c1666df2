/** An authenticated caller, as established from a verified Entra access token (requirement 7). */
export interface Caller {
  /** Entra tenant id (GUID, lower case). */
  readonly tid: string;
  /** Object id of the calling principal (GUID, lower case). */
  readonly oid: string;
  /** Client application id: `azp` (v2) or `appid` (v1). */
  readonly azp: string;
  /** `app` for app-only tokens. */
  readonly idtyp: string | undefined;
  readonly roles: readonly string[];
  readonly tokenVersion: '1.0' | '2.0';
}

/** The stable identifier of a caller, used as its audit partition and policy key. */
export function callerId(caller: Caller): string {
  return `${caller.tid}_${caller.oid}`;
}
