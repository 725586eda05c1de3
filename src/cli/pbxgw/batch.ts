import fs from 'node:fs';
import { Unreachable, type GatewayClient } from './client';
import type { BatchCommand } from './io';
import { callNode } from './node-call';
import type { ReportLayout, ReportLine } from './report-file';
import { EXIT_UNREACHABLE, EXIT_USAGE, runBulk, say } from './runner';

// `pbxgw batch FILE` (CONTRACT section 10): one node call per line of a JSON-lines file,
// {"node": "numbers/add", "params": {...}}, for everything the sheet does not cover. A line that
// is no such object is an invalid line of the report, not the end of the run.

export const BATCH_REPORT: ReportLayout = { columns: ['line', 'node', 'outcome', 'cause', 'detail'], key: ['line', 'node'] };

const NODE = /^[a-z0-9_]+\/[a-z0-9_]+$/;

interface BatchCall {
  readonly line: number;
  readonly node: string;
  readonly params: Record<string, unknown> | null;
  /** Why the line is no call; null when it is one. */
  readonly malformed: string | null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The calls of a JSON-lines text; blank lines are skipped but counted, so line numbers are the file's. */
export function readBatch(text: string): BatchCall[] {
  return text.split(/\r?\n/).flatMap((source, index): BatchCall[] => {
    const line = index + 1;
    if (source.trim() === '') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(source);
    } catch (error) {
      return [{ line, node: '', params: null, malformed: `not JSON: ${(error as Error).message}` }];
    }
    if (!isObject(parsed)) return [{ line, node: '', params: null, malformed: 'not a JSON object {"node": …, "params": {…}}' }];
    const node = typeof parsed.node === 'string' ? parsed.node : '';
    const extra = Object.keys(parsed).find((member) => member !== 'node' && member !== 'params');
    if (extra !== undefined) return [{ line, node, params: null, malformed: `unknown member "${extra}" (a line has node and params)` }];
    if (!NODE.test(node)) return [{ line, node, params: null, malformed: 'node must be a node path such as "numbers/add"' }];
    if (parsed.params !== undefined && !isObject(parsed.params)) return [{ line, node, params: null, malformed: 'params must be a JSON object' }];
    return [{ line, node, params: parsed.params ?? {}, malformed: null }];
  });
}

/** The answer's members beyond response, as the detail of an ok line (a generated password included: the report is 0600). */
function okDetail(body: Readonly<Record<string, unknown>> | null, fallback: string): string {
  if (body === null) return fallback;
  const { response: _response, ...rest } = body;
  const keys = Object.keys(rest);
  if (keys.length === 1 && typeof rest.detail === 'string') return rest.detail;
  return keys.length === 0 ? '' : JSON.stringify(rest);
}

type DryRunForm = 'dry_run' | 'read' | 'none';

/**
 * How each node can be tried without a change, from the gateway's OpenAPI document: with
 * dry_run=true where it takes dry_run, as it is when it only reads (x-scope read), not at all otherwise.
 */
async function dryRunForms(client: GatewayClient): Promise<Map<string, DryRunForm>> {
  const document = await client.openApi();
  const forms = new Map<string, DryRunForm>();
  for (const [path, item] of Object.entries(isObject(document.paths) ? document.paths : {})) {
    const post = isObject(item) && isObject(item.post) ? item.post : null;
    if (post === null || !path.startsWith('/api/')) continue;
    const schema = (post.requestBody as { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> } | undefined)?.content?.['application/json']?.schema;
    const takesDryRun = schema?.properties !== undefined && 'dry_run' in schema.properties;
    forms.set(path.slice('/api/'.length), takesDryRun ? 'dry_run' : post['x-scope'] === 'read' ? 'read' : 'none');
  }
  return forms;
}

export const runBatch: BatchCommand = async (file, options, client, io) => {
  let calls: BatchCall[];
  try {
    calls = readBatch(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (error) {
    say(io, 'batch', `cannot read ${file}: ${(error as Error).message}; nothing was sent`);
    return EXIT_USAGE;
  }
  let forms: Map<string, DryRunForm> | null = null;
  if (options.dryRun) {
    try {
      forms = await dryRunForms(client);
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error;
      say(io, 'batch', `${error.message}; nothing was sent`);
      return EXIT_UNREACHABLE;
    }
  }
  const tasks = calls.map((call) => {
    const key = { line: String(call.line), node: call.node };
    const line = (outcome: string, cause: string, detail: string): ReportLine => ({ ...key, outcome, cause, detail });
    return {
      key,
      run: async (): Promise<ReportLine> => {
        if (call.params === null) return line('invalid', 'line', call.malformed ?? 'malformed');
        let params = call.params;
        if (forms !== null) {
          const form = forms.get(call.node);
          if (form === undefined) return line('invalid', 'node', `${call.node} is not served by this gateway (not in its OpenAPI document); not sent`);
          if (form === 'none') return line('skipped', 'dry_run', `${call.node} has no dry_run and changes things; not sent`);
          if (form === 'dry_run') params = { ...params, dry_run: true };
        }
        const result = await callNode(client, call.node, params);
        if (result.outcome === 'ok') return line('ok', '', okDetail(result.body, result.detail));
        return line(result.outcome, result.cause, result.detail);
      },
    };
  });
  const successes = options.dryRun ? new Set(['ok', 'skipped']) : new Set(['ok']);
  return runBulk({ command: 'batch', unit: 'line', layout: BATCH_REPORT, tasks, options, client, io, successes });
};
