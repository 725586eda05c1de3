import winston from 'winston';

export type Logger = winston.Logger;

// Keys whose values are never written to the log, wherever they appear.
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|cookie/i;
const REDACTED = '[redacted]';

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = SECRET_KEY.test(key) ? REDACTED : redact(inner, depth + 1);
  }
  return copy;
}

const redactSecrets = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEY.test(key)) info[key] = REDACTED;
    else if (info[key] !== null && typeof info[key] === 'object') info[key] = redact(info[key]);
  }
  return info;
});

/** JSON lines on stdout (CONTRACT section 2); secrets are removed by key name. */
export function createLogger(level: string, stream?: NodeJS.WritableStream): Logger {
  const transport = stream
    ? new winston.transports.Stream({ stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), redactSecrets(), winston.format.json()),
    transports: [transport],
  });
}
