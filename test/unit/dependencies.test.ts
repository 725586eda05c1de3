import fs from 'node:fs';
import path from 'node:path';

// package.json: every production dependency is used by the code that ships (an unused one is
// installed on every machine and in the image for nothing), and no install-time telemetry runs.

const ROOT = path.resolve(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  scarfSettings?: { enabled?: boolean };
};

function sources(directory: string): string[] {
  return fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return sources(full);
    return /\.(ts|js)$/.test(entry.name) ? [full] : [];
  });
}

const shippedCode = [...sources(path.join(ROOT, 'src')), ...sources(path.join(ROOT, 'scripts'))].map((file) => fs.readFileSync(file, 'utf8')).join('\n');

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('package.json', () => {
  it.each(Object.keys(manifest.dependencies))('imports the production dependency %s somewhere in src/ or scripts/', (name) => {
    const imported = new RegExp(`(from\\s+|require\\(\\s*|import\\(\\s*)['"]${escaped(name)}(/[^'"]*)?['"]`);
    expect(shippedCode).toMatch(imported);
  });

  it("opts out of @scarf/scarf's install-time telemetry (pulled in by swagger-ui-express through swagger-ui-dist)", () => {
    expect(manifest.scarfSettings).toEqual({ enabled: false });
  });
});
