import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import { newCommand } from '../command';
import { runBatch } from './batch';
import { runNodeCall } from './call-command';
import { GatewayClient, Unreachable } from './client';
import { runExport } from './export';
import { UsageError, type BatchCommand, type BulkOptions, type CommandIo, type ExportCommand, type ImportCommand } from './io';
import { describeNode, listNodes, NotAnOpenApiDocument } from './node-catalog';
import { DEFAULT_RETRIES, DEFAULT_TIMEOUT_SECONDS, DEFAULT_URL, parseRetries, parseSeconds, resolveSettings, type GlobalOptions, type Settings } from './settings';
import { runImport } from './sheet';
import { Interrupted } from './standard-input';
import { formatNodeHelp, formatNodeList, printable } from './terminal-output';

// pbxgw (CONTRACT section 10): the gateway's nodes from the command line, one JSON POST per call,
// and the bulk commands (import, export, batch: their own modules). bin/pbxgw.js runs cli() after
// the build check; the exit status is the contract's: 0 ok, 1 failed, 2 invalid or a usage error,
// 3 error or the gateway unreachable, 4 refused (401, 403), 5 rate limited.

export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;
export const EXIT_INTERRUPTED = 130;

// Typed against io.ts: the bulk commands' modules implement these signatures.
const importCommand: ImportCommand = runImport;
const exportCommand: ExportCommand = runExport;
const batchCommand: BatchCommand = runBatch;

const MAX_CONCURRENCY = 32;

/** An option's parser from one that throws UsageError: commander then names the option in its message. */
function optionParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** --concurrency: 1–32 (the gateway never refuses a token for rate while it keeps at most 32 requests in flight). */
function parseConcurrency(text: string): number {
  if (!/^\d{1,2}$/.test(text.trim()) || Number(text) < 1 || Number(text) > MAX_CONCURRENCY) throw new UsageError(`not a concurrency (1-${MAX_CONCURRENCY}): '${text}'`);
  return Number(text);
}

const HELP_AFTER = `
Parameters are name=value words, sent as JSON strings as typed (the gateway converts them);
name=- reads that value from standard input: typed without echo on a terminal, else the next line.

  pbxgw user/get user=1001@pbx.local
  pbxgw user change_pw user=1001@pbx.local password=-
  pbxgw numbers/list search='+4790*' limit=10 --json | jq -r '.numbers[]'
  pbxgw help user/add_remote

Output: the envelope as JSON when stdout is not a terminal or with --json; on a terminal a readable
form (lists as tables). Exit status: 0 ok, 1 failed, 2 invalid or a usage error, 3 error or the
gateway unreachable, 4 refused (401, 403), 5 rate limited (after the retries).

Environment: PBXGW_URL, PBXGW_TOKEN, PBXGW_TOKEN_FILE (a file holding the token, e.g. the gateway's
secrets/start-token), PBXGW_TIMEOUT, PBXGW_RETRIES; options take precedence. The token is never printed.
`;

interface Run {
  status: number;
}

function bulkOptions(options: { dryRun?: boolean; concurrency: number; report?: string; resume?: boolean }, settings: Settings): BulkOptions {
  if (options.resume && !options.report) throw new UsageError('--resume needs --report FILE: the report says which rows are done');
  return { dryRun: options.dryRun === true, concurrency: options.concurrency, report: options.report ?? null, resume: options.resume === true, json: settings.json };
}

function buildProgram(io: CommandIo, run: Run): Command {
  let settings: Settings | null = null;
  let client: GatewayClient | null = null;
  const say = (message: string) => io.stderr.write(`pbxgw: ${printable(message)}\n`);
  const program = newCommand('pbxgw', 'pbxgw')
    .description("Calls the gateway's nodes: one JSON POST per call (CONTRACT section 10).")
    .usage('[options] <group>/<node> [name=value ...]  |  <group> <node> [name=value ...]  |  <command>')
    .option('--url <url>', `the gateway's base URL (env PBXGW_URL; default ${DEFAULT_URL})`)
    .option('--token-file <file>', 'a file holding the client token (env PBXGW_TOKEN_FILE), e.g. secrets/start-token')
    .option('--token <token>', 'the client token (env PBXGW_TOKEN); a file keeps it out of the shell history')
    .option('--json', 'print JSON even on a terminal')
    .option('--timeout <seconds>', `wait at most this long for an answer (env PBXGW_TIMEOUT; default ${DEFAULT_TIMEOUT_SECONDS})`, optionParser(parseSeconds))
    .option('--retries <n>', `times a rate-limited call (429) is tried again after its Retry-After (env PBXGW_RETRIES; default ${DEFAULT_RETRIES})`, optionParser(parseRetries))
    .option('--verbose', 'say on stderr what is sent and what comes back (never the token or a secret value)')
    .argument('[words...]', '<group>/<node> and its name=value parameters')
    .helpCommand(false)
    .addHelpText('after', HELP_AFTER)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Usage errors are one line; an unknown option's value (--tokn=…) is not repeated.
      outputError: (text, write) => write(`pbxgw: ${text.replace(/^error: /, '').trimEnd().replace(/\s*\n\s*/g, ' ').replace(/'(--?[A-Za-z0-9-]+)=[^']*'/g, "'$1=…'")}\n`),
    });

  /** The settings and the client, made once the options are all parsed. */
  const connect = (): { settings: Settings; client: GatewayClient } => {
    if (!settings || !client) {
      const resolved = resolveSettings(program.opts<GlobalOptions>(), io.env);
      settings = resolved;
      client = new GatewayClient({
        url: resolved.url,
        token: resolved.token,
        rateRetries: resolved.retries,
        timeoutMs: resolved.timeoutMs,
        onRateLimited: (seconds, retry, retries) => say(`rate limited (HTTP 429): trying again in ${seconds} s (${retry} of ${retries})`),
        onExchange: resolved.verbose
          ? (exchange) => say(`${exchange.method} ${exchange.url}: HTTP ${exchange.status} in ${exchange.milliseconds.toFixed(0)} ms${exchange.requestId ? `, request id ${exchange.requestId}` : ''}`)
          : undefined,
      });
      if (resolved.verbose) say(`gateway ${resolved.url}, ${resolved.tokenSource ? `token from ${resolved.tokenSource}` : 'no token'}`);
    }
    return { settings: settings as Settings, client: client as GatewayClient };
  };
  const json = () => connect().settings.json || !io.stdoutIsTty;

  program.action(async (words: string[]) => {
    if (words.length === 0) program.help({ error: true });
    const { settings: resolved, client: gateway } = connect();
    run.status = await runNodeCall(words, gateway, resolved, io);
  });

  program
    .command('nodes')
    .description("every node the gateway serves, with its scope and summary (from the gateway's /api/openapi.json)")
    .action(async () => {
      const nodes = listNodes(await connect().client.openApi());
      io.stdout.write(json() ? `${JSON.stringify({ nodes }, null, 2)}\n` : formatNodeList(nodes));
    });

  program
    .command('help')
    .description("a node's parameters, scope, answer and causes (from the gateway's /api/openapi.json); without one, this help")
    .argument('[node...]', '<group>/<node> or <group> <node>')
    .action(async (words: string[]) => {
      if (words.length === 0) {
        program.help();
        return;
      }
      const twoWords = words.length === 2 && !words[0].includes('/');
      if (words.length > 1 && !twoWords) throw new UsageError('help takes one node: pbxgw help <group>/<node>');
      const node = twoWords ? `${words[0]}/${words[1]}` : words[0];
      const help = describeNode(await connect().client.openApi(), node);
      if (!help) throw new UsageError(`the gateway at ${connect().settings.url} has no node ${node}: pbxgw nodes lists those it has`);
      io.stdout.write(json() ? `${JSON.stringify(help, null, 2)}\n` : formatNodeHelp(help));
    });

  const bulk = (command: Command) =>
    command
      .option('--dry-run', 'check everything with dry_run=true, change nothing')
      .option('--concurrency <n>', `rows in flight at once (1-${MAX_CONCURRENCY})`, optionParser(parseConcurrency), 4)
      .option('--report <file>', 'write a CSV report, one line per row')
      .option('--resume', 'skip the rows the report already shows as ok (needs --report)');

  bulk(program.command('import').description('onboard people from a CSV sheet (user, kind, displayname, ...; CONTRACT section 10)').argument('<file>', 'the sheet (CSV with a header row)')).action(
    async (file: string, options: { dryRun?: boolean; concurrency: number; report?: string; resume?: boolean }) => {
      const { settings: resolved, client: gateway } = connect();
      run.status = await importCommand(file, bulkOptions(options, resolved), gateway, io);
    },
  );

  program
    .command('export')
    .description("write every user as the import sheet's columns (no passwords) to stdout")
    .option('--domain <domain>', "only this domain's users")
    .action(async (options: { domain?: string }) => {
      run.status = await exportCommand({ domain: options.domain ?? null }, connect().client, io);
    });

  bulk(
    program
      .command('batch')
      .description('one node call per line of a JSON-lines file ({"node": "numbers/add", "params": {...}})')
      .argument('<file>', 'the JSON-lines file'),
  ).action(async (file: string, options: { dryRun?: boolean; concurrency: number; report?: string; resume?: boolean }) => {
    const { settings: resolved, client: gateway } = connect();
    run.status = await batchCommand(file, bulkOptions(options, resolved), gateway, io);
  });

  return program;
}

/** Runs pbxgw with `args` (what follows `pbxgw` on the command line); resolves to the exit status. */
export async function runPbxgw(args: readonly string[], io: CommandIo): Promise<number> {
  const run: Run = { status: 0 };
  const program = buildProgram(io, run);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return run.status;
  } catch (error) {
    // --help and --version end the parse with exit code 0; every other commander error is usage (2).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    const say = (message: string) => io.stderr.write(`pbxgw: ${printable(message)}\n`);
    if (error instanceof UsageError) {
      say(error.message);
      return EXIT_USAGE;
    }
    if (error instanceof Interrupted) {
      say(error.message);
      return EXIT_INTERRUPTED;
    }
    if (error instanceof Unreachable || error instanceof NotAnOpenApiDocument) {
      say(error.message);
      return EXIT_UNREACHABLE;
    }
    say(`internal error: ${(error as Error).message}`);
    return EXIT_UNREACHABLE;
  }
}

/** The process's pbxgw: its arguments and streams, and its exit status. */
export function cli(): void {
  const io: CommandIo = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    stdoutIsTty: process.stdout.isTTY === true,
    stderrIsTty: process.stderr.isTTY === true,
    env: process.env,
  };
  // A reader that closes the pipe early (pbxgw nodes | head) is no error of pbxgw's.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
  });
  runPbxgw(process.argv.slice(2), io).then(
    (status) => process.exit(status),
    (error: unknown) => {
      process.stderr.write(`pbxgw: internal error: ${(error as Error).message}\n`);
      process.exit(EXIT_UNREACHABLE);
    },
  );
}

if (require.main === module) cli();
