import type Joi from 'joi';
import type { Scope } from '../config';
import type { SipAddress } from '../values/sip-address';
import type { ChangeScope } from '../db/change-scope';
import type { AnswerMember } from './answer-schemas';

/** What a handler returns for an `ok` answer: the members beside `response: "ok"`. */
export type OkMembers = Record<string, unknown>;

/** An answer whose body is plain text (user/genpw). */
export class PlainText {
  constructor(readonly text: string) {}
}

/** An ok answer with one array member written as it is read, so a huge list never sits in memory. */
export class StreamedList {
  constructor(
    readonly member: string,
    readonly items: AsyncIterable<unknown>,
    readonly head: OkMembers = {},
  ) {}
}

export type NodeResult = OkMembers | PlainText | StreamedList;

export interface NodeContext {
  readonly requestId: string;
  /** The client token's name, or null when auth is off. */
  readonly tokenName: string | null;
  /** Set by the registry once parameters are parsed: the address the request is about (audit). */
  subject?: string | null;
  /** For a change: its audit record, for the transaction that commits the change to write too. */
  audit?: ChangeScope;
}

/**
 * How the node takes a user (CONTRACT section 5): `user=foo@bar.bz` or `username=foo&domain=bar.bz`.
 * 'required': exactly one form; 'optional': at most one.
 */
export type UserForm = 'required' | 'optional';

export interface NodeDefinition<Params = Record<string, unknown>> {
  /** The full node path, e.g. 'alias/add', served at /api/alias/add. */
  readonly path: string;
  readonly scope: Scope;
  /** A node that changes nothing although it needs more than read scope (audit/list): not audited. */
  readonly readOnly?: boolean;
  readonly summary: string;
  readonly description?: string;
  /** The node's own parameters; the user form's keys are added by the registry when `userForm` is set. */
  readonly params: Record<string, Joi.Schema>;
  readonly userForm?: UserForm;
  /** The members of the ok answer beside `response`, typed for the OpenAPI document (answer-schemas.ts). */
  readonly answers: Record<string, AnswerMember>;
  /**
   * The node's own outcomes besides ok, for the OpenAPI document: cause → meaning for `failed`, or
   * `{ invalid: meaning }` for an `invalid` cause other than a parameter's name.
   */
  readonly failures?: Record<string, string | { readonly invalid: string }>;
  /**
   * Work that may hold a MySQL connection for long (a whole list, a range of numbers, a sync): it
   * runs on a bounded share of the pool, so it never starves the short requests (README, Limits).
   * A function decides per request, from the validated parameters (a list is long work when whole,
   * short when paged).
   */
  readonly longWork?: boolean | ((params: Params) => boolean);
  /** Whether the answer is plain text instead of the JSON envelope. */
  readonly plainText?: boolean;
  handle(params: Params & { user?: SipAddress }, context: NodeContext): Promise<NodeResult>;
}

/** Declares a node; the type parameter is the shape of the validated, canonical parameters. */
export function defineNode<Params>(definition: NodeDefinition<Params>): NodeDefinition {
  return definition as unknown as NodeDefinition;
}
