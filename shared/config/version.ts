/** The broker's version, reported by health and recorded in audit records; kept equal to package.json by a test. */
export const BROKER_VERSION = '0.1.0';
