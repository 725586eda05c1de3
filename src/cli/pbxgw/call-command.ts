import { exitStatusOf, isPlainTextOk, outcomeOf, type Answer, type GatewayClient } from './client';
import { UsageError, type CommandIo } from './io';
import type { Settings } from './settings';
import { valueReader } from './standard-input';
import { formatEnvelope, printable } from './terminal-output';

// `pbxgw <group>/<node> [name=value ...]` and `pbxgw <group> <node> [name=value ...]` (CONTRACT
// section 10): the parameters POSTed as JSON, values as strings as typed (the gateway's schemas
// convert them), and the answer printed: the envelope as JSON when stdout is not a terminal or with
// --json, a readable form on a terminal. Messages go to stderr; the exit status is the outcome's.

export interface NodeCall {
  readonly node: string;
  /** name → value as typed; '-' for one to read from standard input. */
  readonly params: ReadonlyMap<string, string>;
}

const NODE = /^[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+$/;
const NAME = /^[A-Za-z0-9_.-]+$/;
/** Parameters whose values --verbose never shows. */
const SECRET_NAME = /pass|secret|token|key/i;

/** The node and its parameters from the words after the options; a usage error when they do not make one. */
export function parseNodeCall(words: readonly string[]): NodeCall {
  const [first, second, ...rest] = words;
  let node: string;
  let assignments: readonly string[];
  if (first.includes('/')) {
    node = first;
    assignments = second === undefined ? [] : [second, ...rest];
  } else if (second !== undefined && !second.includes('=')) {
    node = `${first}/${second}`;
    assignments = rest;
  } else {
    throw new UsageError(`'${first}' is not a node: give <group>/<node> (user/get) or <group> <node> (user get); pbxgw nodes lists them`);
  }
  if (!NODE.test(node)) throw new UsageError(`'${node}' is not a node name (<group>/<node>, e.g. user/get); pbxgw nodes lists them`);
  const params = new Map<string, string>();
  for (const assignment of assignments) {
    const equals = assignment.indexOf('=');
    if (equals <= 0) throw new UsageError(`'${assignment}' is not a parameter: give name=value (name=- reads the value from standard input)`);
    const name = assignment.slice(0, equals);
    if (!NAME.test(name)) throw new UsageError(`'${name}' is not a parameter name`);
    // A name given twice is a mistake the gateway could not see: JSON keeps only one of them.
    if (params.has(name)) throw new UsageError(`${name} is given twice`);
    params.set(name, assignment.slice(equals + 1));
  }
  return { node, params };
}

/** The values of `-` parameters, read from standard input in the order given. */
async function withInput(call: NodeCall, io: CommandIo): Promise<{ params: Record<string, string>; fromInput: Set<string> }> {
  const params: Record<string, string> = {};
  const fromInput = new Set<string>();
  const reader = valueReader(io.stdin, io.stderr);
  try {
    for (const [name, value] of call.params) {
      if (value === '-') {
        params[name] = await reader.read(name);
        fromInput.add(name);
      } else {
        params[name] = value;
      }
    }
  } finally {
    reader.close();
  }
  return { params, fromInput };
}

const say = (io: CommandIo, message: string) => io.stderr.write(`pbxgw: ${printable(message)}\n`);

/** The one line on stderr that says why the exit status is not 0, with what to do about it. */
function explain(answer: Answer, node: string, settings: Settings, io: CommandIo): void {
  const body = (typeof answer.body === 'object' && answer.body !== null ? answer.body : {}) as Record<string, unknown>;
  const detail = typeof body.detail === 'string' ? body.detail : '';
  if (answer.status === 401) {
    const why = settings.tokenSource === null ? 'no token was given (--token-file, PBXGW_TOKEN_FILE, PBXGW_TOKEN or --token)' : `the gateway does not take the token from ${settings.tokenSource} (unknown, revoked or expired)`;
    say(io, `refused (HTTP 401): ${why}`);
  } else if (answer.status === 403) {
    say(io, `refused (HTTP 403): ${detail || `the token's scope does not include what ${node} needs`}; pbxgw help ${node} names its scope`);
  } else if (answer.status === 404 && body.cause === 'node') {
    say(io, `the gateway at ${settings.url} has no node ${node}: pbxgw nodes lists those it has`);
  } else if (answer.status === 429) {
    const again = answer.retryAfterSeconds === null ? '' : `; try again in ${answer.retryAfterSeconds} s`;
    say(io, `rate limited (HTTP 429) after ${settings.retries} ${settings.retries === 1 ? 'retry' : 'retries'}: ${detail || 'too many requests'}${again}`);
  } else if (outcomeOf(answer) === null) {
    const type = answer.contentType ? `, ${answer.contentType}` : '';
    say(io, `${settings.url} answered HTTP ${answer.status}${type}, not a gateway's envelope: is --url (PBXGW_URL) the gateway?`);
  } else {
    say(io, `${outcomeOf(answer)}${typeof body.cause === 'string' ? `/${body.cause}` : ''}${detail ? `: ${detail}` : ''}`);
  }
}

/** The parameters as --verbose shows them: secrets and values typed at the prompt as ***. */
function shown(params: Record<string, string>, fromInput: ReadonlySet<string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(params).map(([name, value]) => [name, fromInput.has(name) || SECRET_NAME.test(name) ? '***' : value])));
}

export async function runNodeCall(words: readonly string[], client: GatewayClient, settings: Settings, io: CommandIo): Promise<number> {
  const call = parseNodeCall(words);
  const { params, fromInput } = await withInput(call, io);
  if (settings.verbose) say(io, `POST ${client.url}/api/${call.node} ${shown(params, fromInput)}`);
  const answer = await client.call(call.node, params);
  const status = exitStatusOf(answer);
  const json = settings.json || !io.stdoutIsTty;
  if (isPlainTextOk(answer) && outcomeOf(answer) === null) {
    // user/genpw: the body is the password alone, printed as it is (with --json as a JSON string).
    const text = String(answer.body).trimEnd();
    io.stdout.write(settings.json ? `${JSON.stringify(text)}\n` : `${io.stdoutIsTty ? printable(text) : text}\n`);
    return status;
  }
  if (outcomeOf(answer) !== null) {
    io.stdout.write(json ? `${JSON.stringify(answer.body, null, 2)}\n` : formatEnvelope(answer.body as Record<string, unknown>));
  }
  // On a terminal the readable form already says what a node's outcome was; refusals get their hint.
  const refused = answer.status !== 200 || outcomeOf(answer) === null;
  if (status !== 0 && (json || refused)) explain(answer, call.node, settings, io);
  return status;
}
