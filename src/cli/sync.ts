import { InvalidArgumentError } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../logger';
import { Failed, GatewayError } from '../outcome';
import { prepare } from '../start';
import { parseDomain } from '../values/sip-address';
import type { SyncReport } from '../nodes/pbx/sync-service';
import { newCommand } from './command';

// `npm run sync -- --domain D [--dry-run] [--prune] [--json]`: pbx/sync from the command line, for PBX
// admins. The report is all that goes to stdout (with --json, one JSON document); the log lines and the
// progress bar go to stderr.

function domainOption(text: string): string {
  const domain = parseDomain(text);
  if (!domain) throw new InvalidArgumentError('not a DNS host name');
  return domain;
}

function summary(report: SyncReport, dryRun: boolean): string {
  const lines = [
    `${dryRun ? 'dry run: nothing was changed. ' : ''}imported ${report.imported.length}, updated ${report.updated.length}, ` +
      `missing on the PBX ${report.missing_on_pbx.length}, pruned ${report.pruned.length}`,
  ];
  for (const [label, addresses] of Object.entries(report)) {
    for (const address of addresses as string[]) lines.push(`  ${label.padEnd(14)} ${address}`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  const program = newCommand('npm run sync --', 'pbx-gateway')
    .description('Reconcile a local domain with the extensions on the PBX (PBX_URL and its credentials must be set).')
    .requiredOption('--domain <domain>', 'the local domain to reconcile', domainOption)
    .option('--dry-run', 'report what would change, change nothing', false)
    .option('--prune', 'remove local users whose extension is gone from the PBX', false)
    .option('--json', 'print the report as JSON', false)
    .parse();
  const options = program.opts<{ domain: string; dryRun: boolean; prune: boolean; json: boolean }>();
  const config = loadConfig();
  if (!config.pbx.url) throw new ConfigError('PBX_URL is not set: sync reconciles against a real PBX (set PBX_URL, PBX_API_KEY, PBX_USERNAME, PBX_PASSWORD)');
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  const container = await prepare(config, logger);
  const bar = new SingleBar({ format: 'sync {bar} {value}/{total}', stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  let started = false;
  try {
    const report = await container.sync.sync(options.domain, {
      dryRun: options.dryRun,
      prune: options.prune,
      progress: (done, total) => {
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
    });
    if (started) bar.stop();
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : summary(report, options.dryRun));
    return 0;
  } finally {
    if (started) bar.stop();
    await container.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message =
      error instanceof ConfigError || error instanceof Failed || error instanceof GatewayError
        ? (error as Error).message
        : `sync failed: ${(error as Error).message}`;
    process.stderr.write(`pbx-gateway: ${message}\n`);
    process.exit(1);
  },
);
