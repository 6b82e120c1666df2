/** The dev host's public surface: `startDevHost` and the pieces its tests and tools use. */
export { DEFAULT_DEV_HOST_PORT, DEFAULT_MAX_REQUEST_BODY_BYTES, startDevHost, type DevHost, type DevHostOptions } from './devHost.js';
export { HostJsonError, loadHostSettings, parseHostJson, parseTimeSpan, type HostSettings, type QueueSettings } from './hostSettings.js';
export type { DevHostLog } from './invocation.js';
export { decodeMessageText, MessageDecodingError, nextPollDelay } from './queueTrigger.js';
export { parseRouteTemplate, RouteTemplateError, type RouteTemplate } from './routeTemplate.js';
export { parseNcrontab, ScheduleError, type NcrontabSchedule } from './timerTrigger.js';
