import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { EXTENSION_EVENTS, type ExtensionEvent } from '../nodes/pbx/pbx-events';
import { EXTENSION_NUMBER } from '../nodes/pbx/sync-service';
import type { Challenge } from './gatekeeper';

// POST /pbx/events (CONTRACT section 12): what Simotel's "AP Settings" post on events, authenticated
// with HTTP Basic. Only the reading of a call is here; app.ts answers it, PbxEvents does the work.

export interface PbxEventsCredentials {
  readonly username: string;
  readonly password: string;
}

/** Where a well-formed extension event goes (PbxEvents.notice): the work is done in the background. */
export interface ExtensionEventSink {
  notice(event: ExtensionEvent, number: string): unknown;
}

export interface PbxEventsEndpoint {
  readonly credentials: PbxEventsCredentials;
  readonly events: ExtensionEventSink;
}

/** The 401 of a call without the right credentials: a Basic challenge, not the nodes' Bearer. */
export const PBX_EVENTS_CHALLENGE: Challenge = {
  header: 'Basic realm="pbx-events", charset="UTF-8"',
  detail: 'send PBX_EVENTS_USERNAME and PBX_EVENTS_PASSWORD as HTTP Basic credentials',
};

/** What a call's body asks: an extension event to act on, an event to ignore, or why it is malformed. */
export type EventCall =
  | { readonly kind: 'extension'; readonly event: ExtensionEvent; readonly number: string }
  | { readonly kind: 'ignored'; readonly why: string }
  | { readonly kind: 'invalid'; readonly cause: string; readonly detail: string };

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Equal texts, in a time that tells nothing of where they differ (their digests are compared). */
function sameText(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Whether the request carries exactly these Basic credentials. */
export function hasCredentials(headers: IncomingHttpHeaders, expected: PbxEventsCredentials): boolean {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(headers.authorization ?? '');
  const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const username = colon >= 0 ? decoded.slice(0, colon) : '';
  const password = colon >= 0 ? decoded.slice(colon + 1) : '';
  // Both compared always, so the time does not tell which one was wrong.
  const sameUser = sameText(username, expected.username);
  const samePassword = sameText(password, expected.password);
  return match !== null && sameUser && samePassword;
}

const isExtensionEvent = (name: string): name is ExtensionEvent => (EXTENSION_EVENTS as readonly string[]).includes(name);

/**
 * Reads `{"event_name": …, "exten": …}` (some Simotel versions name the field `number`; a JSON number
 * is taken too). Malformed: not an object, no `event_name`, an extension event without its number.
 * Events other than ExtenAdded and ExtenRemoved, and numbers the gateway does not manage (not 2–15
 * digits), are well-formed and ignored.
 */
export function readEventCall(body: unknown): EventCall {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { kind: 'invalid', cause: 'body', detail: 'the body is not a JSON object' };
  }
  const { event_name: name, exten, number } = body as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') return { kind: 'invalid', cause: 'event_name', detail: 'event_name is missing or not a string' };
  if (!isExtensionEvent(name)) return { kind: 'ignored', why: 'not an extension event' };
  const given = exten ?? number;
  const text = typeof given === 'number' && Number.isSafeInteger(given) && given >= 0 ? String(given) : given;
  if (typeof text !== 'string' || text === '') return { kind: 'invalid', cause: 'exten', detail: `${name} needs exten (or number): the extension number` };
  if (!EXTENSION_NUMBER.test(text)) return { kind: 'ignored', why: 'not an extension number the gateway manages (2–15 digits)' };
  return { kind: 'extension', event: name, number: text };
}
