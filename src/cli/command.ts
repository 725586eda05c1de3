import { Command, InvalidArgumentError } from 'commander';
import { version } from '../../package.json';

/**
 * A commander program as every command of the project has it (the gateway, migrate, sync, secrets,
 * the simulator): `--help` and `--version` (the package's version) print to stdout and exit 0 before
 * anything is touched; a usage error is one line `<prefix>: …` on stderr and exit 1, like every
 * other error a command stops with.
 */
export function newCommand(usageName: string, prefix: string): Command {
  return new Command(usageName)
    .version(version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .configureOutput({
      outputError: (text, write) => write(`${prefix}: ${text.replace(/^error: /, '').trimEnd().replace(/\s*\n\s*/g, ' ')}\n`),
    });
}

/** A TCP port, 0–65535, for an option's argParser. */
export function portOption(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(port) || port > 65_535) throw new InvalidArgumentError('not a port number (0-65535)');
  return port;
}
