import { exitStatusOf, Unreachable, type GatewayClient } from './client';

// One node call of a bulk command, reduced to the contract's outcome words, whatever came back:
// the envelope of a node, the envelope of a transport refusal (401, 403, 404, 429 after the
// client's retries), something that is no envelope, or no answer at all.

export type Outcome = 'ok' | 'failed' | 'invalid' | 'error';

export interface CallResult {
  readonly outcome: Outcome;
  readonly cause: string;
  readonly detail: string;
  /** The envelope when there was one. */
  readonly body: Readonly<Record<string, unknown>> | null;
  /** No answer at all: whether the call took effect is unknown. */
  readonly unreachable: boolean;
  /** What `pbxgw <node>` would exit with for this answer (CONTRACT section 10). */
  readonly exitStatus: number;
}

const OUTCOMES: ReadonlySet<string> = new Set(['ok', 'failed', 'invalid', 'error']);

function text(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value);
}

export async function callNode(client: GatewayClient, node: string, params: Record<string, unknown>): Promise<CallResult> {
  let answer;
  try {
    answer = await client.call(node, params);
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    return { outcome: 'error', cause: 'unreachable', detail: error.message, body: null, unreachable: true, exitStatus: 3 };
  }
  const exitStatus = exitStatusOf(answer);
  const body = typeof answer.body === 'object' && answer.body !== null && !Array.isArray(answer.body) ? (answer.body as Record<string, unknown>) : null;
  const response = body?.response;
  if (body !== null && typeof response === 'string' && OUTCOMES.has(response)) {
    return { outcome: response as Outcome, cause: text(body.cause), detail: text(body.detail), body, unreachable: false, exitStatus };
  }
  if (answer.status === 200 && typeof answer.body === 'string') {
    // user/genpw answers its password as text/plain
    return { outcome: 'ok', cause: '', detail: answer.body, body: null, unreachable: false, exitStatus };
  }
  return { outcome: 'error', cause: 'http', detail: `HTTP ${answer.status}: ${text(answer.body).slice(0, 200)}`, body: null, unreachable: false, exitStatus };
}
