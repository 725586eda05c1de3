import Joi from 'joi';
import { MAC, parseMac } from '../values/mac';
import { E164, parseE164 } from '../values/e164';
import { DOMAIN, SIP_ADDRESS, USERNAME, parseDomain, parseSipAddress, parseUsername } from '../values/sip-address';
import { PASSWORD, parsePassword } from '../values/password';
import { FORWARD_TARGET, parseForwardTarget } from '../values/forward-target';

// The parameter vocabulary shared by every node: each value type is parsed once here, at the edge,
// into its canonical form (CONTRACT section 4), and documented from the same schema.

/**
 * A value type: its parser, which checks it and makes the canonical form, and its pattern for the
 * OpenAPI document (joi-to-json cannot see into a custom() parser; openapi.ts turns the `x-pattern`
 * meta into `pattern`). The pattern is not tested again on every request: it accepts exactly what
 * the parser accepts (test/unit/value-patterns.test.ts), and a second regex per value was a
 * measurable share of a read. `example: null` gives none, so the docs page's "Try it out" leaves
 * the field empty (it fills in every example).
 */
function canonical(parse: (text: string) => unknown, expectation: string, pattern: RegExp, example: string | null): Joi.StringSchema {
  const message = `{{#label}} must be ${expectation}`;
  const schema = Joi.string()
    .max(512)
    .meta({ 'x-pattern': pattern.source })
    .custom((value: string, helpers) => {
      const parsed = parse(value);
      return parsed === null ? helpers.message({ custom: message }) : parsed;
    }, expectation)
    .description(`Must be ${expectation}.`);
  return example === null ? schema : schema.example(example);
}

const NO_CONTROL = /^[^\x00-\x1f\x7f]*$/;

function text(max: number, what: string): Joi.StringSchema {
  return Joi.string()
    .allow('')
    .max(max)
    .pattern(NO_CONTROL)
    .messages({ 'string.pattern.base': '{{#label}} must not contain control characters' })
    .description(what);
}

export const param = {
  sipAddress: (example: string | null = '1001@pbx.local') => canonical(parseSipAddress, 'a SIP address username@domain', SIP_ADDRESS, example),
  username: (example: string | null = 'alice') => canonical(parseUsername, '1–64 of A-Z a-z 0-9 . _ - +', USERNAME, example),
  domain: (example: string | null = 'pbx.local') => canonical(parseDomain, 'a DNS host name', DOMAIN, example),
  host: (example: string | null = 'sip.example.com') => canonical(parseDomain, 'a DNS host name or IPv4 address', DOMAIN, example),
  mac: (example: string | null = '00:1a:2b:3c:4d:5e') => canonical(parseMac, '12 hex digits, plain or separated by : or -', MAC, example),
  e164: (example: string | null = '+4761123456') => canonical(parseE164, "an E.164 number: '+' then 2–15 digits, the first not 0", E164, example),
  password: (example: string | null = 'S3cr3t-pass') => canonical(parsePassword, '8–64 printable ASCII characters without spaces', PASSWORD, example),
  forwardTarget: (example: string | null = '0912345678') => canonical(parseForwardTarget, "empty or an optional '+' and 1–20 digits", FORWARD_TARGET, example),
  search: () =>
    Joi.string()
      .max(256)
      .pattern(NO_CONTROL)
      .messages({ 'string.pattern.base': '{{#label}} must not contain control characters' })
      .description("A glob matched anywhere: '*' any run, '?' one character; '%' and '_' are literal."),
  limit: () => Joi.number().integer().min(1).max(100000).description('At most this many entries (1–100000).'),
  port: () => Joi.number().integer().min(1).max(65535).description('A port number (default 5060).'),
  flag: (what: string) => Joi.boolean().description(what),
  dryRun: () => Joi.boolean().description('Run every check and answer as it would, changing nothing.'),
  displayname: () => text(128, 'The display name (1–128 characters).').invalid('').example('Alice Example'),
  email: () =>
    Joi.string().allow('').max(254).email({ tlds: false }).description('An e-mail address (empty clears it).').example('alice@example.com'),
  dialplan: () => text(255, 'The dial plan pattern, e.g. (.*).'),
  linetext: () => text(64, 'The text shown on the phone line key.'),
};

/** The two user forms: `user=foo@bar.bz` or `username=foo&domain=bar.bz`, resolved by the registry. */
// Only `user` carries an example: the docs page fills in every example, and both forms at once are refused.
export const userFormKeys = {
  user: param.sipAddress().description('The user as username@domain (or give username and domain).'),
  username: param.username(null).description('The username, with domain (instead of user).'),
  domain: param.domain(null).description('The domain, with username (instead of user).'),
};
