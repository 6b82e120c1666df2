// Outside the Functions host, @azure/functions runs in "test mode" and warns once per registration.
// Those warnings are expected here (the registry also records every definition), so they are muted.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].startsWith('WARNING: ') && args[0].includes('"@azure/functions" package')) return;
  warn(...args);
};
