// Every outcome in words, next to the control that caused it. The element is a status region
// (role="status", in the page from the start), so a screen reader announces what is written into it.
// A word comes first ("Done", "Not done"); the colour of the border only repeats it.

import type { Answer } from './api.js';
import { h } from './dom.js';

/** An empty status region, to place next to a form or button before anything is shown in it. */
export function outcomeRegion(): HTMLParagraphElement {
  return h('p', { class: 'outcome', role: 'status' });
}

function write(region: HTMLElement, kind: 'ok' | 'refused' | 'working', word: string, text: string, extra?: Node): void {
  region.className = `outcome ${kind}`;
  region.replaceChildren(h('span', { class: 'word' }, word), ` ${text}`);
  if (extra) region.append(extra);
}

/** What a refused or failed call means, in words: the outcome, its cause and the gateway's detail. */
export function refusalWords(answer: Answer): string {
  const { envelope, status, retryAfter } = answer;
  if (envelope.response === 'ok') return '';
  if (status === 429) return `too many requests for now (${envelope.cause}); try again${retryAfter ? ` in ${retryAfter} s` : ' shortly'}.`;
  if (status === 401) return `the gateway does not know this token (${envelope.cause}): ${envelope.detail}.`;
  if (status === 403) return `this token may not do that (${envelope.cause}): ${envelope.detail}.`;
  if (envelope.response === 'invalid') return `invalid ${envelope.cause}: ${envelope.detail}.`;
  if (envelope.response === 'failed') return `failed, ${envelope.cause}: ${envelope.detail}.`;
  return `the gateway could not do it (error, ${envelope.cause}): ${envelope.detail}.`;
}

/** Shows a call's outcome: `done` says what was done when it is ok. Returns whether it was ok. */
export function showOutcome(region: HTMLElement, answer: Answer, done: string, extra?: Node): boolean {
  if (answer.envelope.response === 'ok') {
    write(region, 'ok', 'Done:', done, extra);
    return true;
  }
  write(region, 'refused', 'Not done:', refusalWords(answer), extra);
  return false;
}

/** Says that a call is under way (replaced by its outcome). */
export function showWorking(region: HTMLElement, text: string): void {
  write(region, 'working', 'Working:', text);
}

/** An outcome the console decides itself (nothing to send, a copy to the clipboard, ...). */
export function showNote(region: HTMLElement, ok: boolean, text: string, extra?: Node): void {
  write(region, ok ? 'ok' : 'refused', ok ? 'Done:' : 'Not done:', text, extra);
}

/** A sentence for a read that did not succeed, to put where its result would be. */
export function readFailure(what: string, answer: Answer): HTMLParagraphElement {
  return h('p', { class: 'outcome refused' }, h('span', { class: 'word' }, 'Could not read'), ` ${what}: ${refusalWords(answer)}`);
}
