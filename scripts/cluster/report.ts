// What `npm run test:cluster` prints: one line per check (PASS/FAIL, its name, what it measured),
// notes in between, and the tally as the last line.

export interface CheckResult {
  readonly name: string;
  readonly pass: boolean;
  readonly measured: string;
}

export class Report {
  readonly results: CheckResult[] = [];

  constructor(private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  section(title: string): void {
    this.write(`\n== ${title}`);
  }

  note(line: string): void {
    this.write(`   ${line}`);
  }

  /** Records one assertion and prints it with what was measured. */
  check(name: string, pass: boolean, measured: string, examples: readonly string[] = []): boolean {
    this.results.push({ name, pass, measured });
    this.write(`${pass ? 'PASS' : 'FAIL'} ${name}: ${measured}`);
    for (const example of examples.slice(0, 5)) this.write(`       - ${example}`);
    if (examples.length > 5) this.write(`       - ... and ${examples.length - 5} more`);
    return pass;
  }

  get passed(): number {
    return this.results.filter((result) => result.pass).length;
  }

  get failed(): number {
    return this.results.length - this.passed;
  }

  /** The plain last line of the run. */
  tally(): string {
    return `${this.passed} passed, ${this.failed} failed`;
  }
}
