// The Simotel v4 extension object (CONTRACT section 6; seed 004, the users/update page).
// All values are strings; forward_policy uses the PBX's own key names.

export interface ForwardPolicy {
  Busy: string;
  'No Answer': string;
  UnAvailable: string;
  All: string;
}

export interface ExtensionSettings {
  user_type: string;
  active: string;
  call_record: string;
  push_notification: string;
  deny: string;
  permit: string;
  dtmfmode: string;
  canreinvite: string;
  directmedia: string;
  context: string;
  host: string;
  type: string;
  nat: string;
  port: string;
  qualify: string;
  callgroup: string;
  pickupgroup: string;
  callcounter: string;
  faxdetect: string;
  call_limit: string;
  trunk: string;
  transfer: string;
  more_options: string;
}

export interface Extension extends ExtensionSettings {
  _id?: string;
  name: string;
  number: string;
  cid_number: string;
  /** Absent when the gateway holds no password for the extension (an imported one). */
  secret?: string;
  email: string;
  forward_policy: ForwardPolicy;
}

/** What search answers put in place of the secret. */
export const MASKED_SECRET = '******';

export const FORWARD_KEYS = {
  busy: 'Busy',
  no_answer: 'No Answer',
  unavailable: 'UnAvailable',
  all: 'All',
} as const satisfies Record<string, keyof ForwardPolicy>;

export type ForwardName = keyof typeof FORWARD_KEYS;

export const EXTENSION_SETTING_NAMES: readonly (keyof ExtensionSettings)[] = [
  'user_type',
  'active',
  'call_record',
  'push_notification',
  'deny',
  'permit',
  'dtmfmode',
  'canreinvite',
  'directmedia',
  'context',
  'host',
  'type',
  'nat',
  'port',
  'qualify',
  'callgroup',
  'pickupgroup',
  'callcounter',
  'faxdetect',
  'call_limit',
  'trunk',
  'transfer',
  'more_options',
];

/** Defaults for a new extension, as in the seed's example (config/ may override them). */
export const DEFAULT_EXTENSION_SETTINGS: ExtensionSettings = {
  user_type: 'SIP',
  active: 'yes',
  call_record: 'no',
  push_notification: 'no',
  deny: '0.0.0.0/0.0.0.0',
  permit: '0.0.0.0/0.0.0.0',
  dtmfmode: 'rfc2833',
  canreinvite: 'no',
  directmedia: 'no',
  context: 'main_routing',
  host: 'dynamic',
  type: 'user',
  nat: 'no',
  port: '5060',
  qualify: 'no',
  callgroup: '1',
  pickupgroup: '1',
  callcounter: 'no',
  faxdetect: 'no',
  call_limit: '',
  trunk: 'no',
  transfer: 'no',
  more_options: '',
};

export function emptyForwardPolicy(): ForwardPolicy {
  return { Busy: '', 'No Answer': '', UnAvailable: '', All: '' };
}

const FORWARD_POLICY_KEYS: readonly (keyof ForwardPolicy)[] = ['Busy', 'No Answer', 'UnAvailable', 'All'];

/** A forward policy kept as JSON text (users.forward_policy); null when none is kept or it is unreadable. */
export function parseForwardPolicy(text: unknown): ForwardPolicy | null {
  if (typeof text !== 'string') return null;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const policy = emptyForwardPolicy();
    for (const key of FORWARD_POLICY_KEYS) policy[key] = typeof parsed[key] === 'string' ? parsed[key] : '';
    return policy;
  } catch {
    return null;
  }
}

/** Whether two policies forward alike (a missing key counts as empty). */
export function sameForwardPolicy(a: Partial<ForwardPolicy> | undefined, b: Partial<ForwardPolicy> | undefined): boolean {
  return FORWARD_POLICY_KEYS.every((key) => (a?.[key] ?? '') === (b?.[key] ?? ''));
}

/** The forward policy as the gateway answers it: {busy, no_answer, unavailable, all}. */
export function forwardView(policy: Partial<ForwardPolicy> | undefined): Record<ForwardName, string> {
  return {
    busy: policy?.Busy ?? '',
    no_answer: policy?.['No Answer'] ?? '',
    unavailable: policy?.UnAvailable ?? '',
    all: policy?.All ?? '',
  };
}
