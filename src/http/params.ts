import Joi from 'joi';
import { parseMac } from '../values/mac';
import { parseE164 } from '../values/e164';
import { parseDomain, parseSipAddress, parseUsername } from '../values/sip-address';
import { parsePassword } from '../values/password';
import { parseForwardTarget } from '../values/forward-target';

// The parameter vocabulary shared by every node: each value type is parsed once here, at the edge,
// into its canonical form (CONTRACT section 4), and documented from the same schema.

function canonical(parse: (text: string) => unknown, expectation: string, example: string): Joi.StringSchema {
  return Joi.string()
    .max(512)
    .custom((value: string, helpers) => {
      const parsed = parse(value);
      return parsed === null ? helpers.message({ custom: `{{#label}} must be ${expectation}` }) : parsed;
    }, expectation)
    .description(`Must be ${expectation}.`)
    .example(example);
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
  sipAddress: () => canonical(parseSipAddress, 'a SIP address username@domain', 'alice@pbx.local'),
  username: () => canonical(parseUsername, '1–64 of A-Z a-z 0-9 . _ - +', 'alice'),
  domain: () => canonical(parseDomain, 'a DNS host name', 'pbx.local'),
  host: () => canonical(parseDomain, 'a DNS host name or IPv4 address', 'sip.example.com'),
  mac: () => canonical(parseMac, '12 hex digits, plain or separated by : or -', '00:1a:2b:3c:4d:5e'),
  e164: () => canonical(parseE164, "an E.164 number: '+' then 2–15 digits, the first not 0", '+4761123456'),
  password: () => canonical(parsePassword, '8–64 printable ASCII characters without spaces', 'S3cr3t-pass'),
  forwardTarget: () => canonical(parseForwardTarget, "empty or an optional '+' and 1–20 digits", '0912345678'),
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
  displayname: () => text(128, 'The display name (1–128 characters).').invalid(''),
  email: () =>
    Joi.string().allow('').max(254).email({ tlds: false }).description('An e-mail address (empty clears it).'),
  dialplan: () => text(255, 'The dial plan pattern, e.g. (.*).'),
  linetext: () => text(64, 'The text shown on the phone line key.'),
};

/** The two user forms: `user=foo@bar.bz` or `username=foo&domain=bar.bz`, resolved by the registry. */
export const userFormKeys = {
  user: param.sipAddress().description('The user as username@domain (or give username and domain).'),
  username: param.username().description('The username, with domain (instead of user).'),
  domain: param.domain().description('The domain, with username (instead of user).'),
};
