import type { Extension } from './extension';

/**
 * The seam to the PBX, like a store: one axios implementation (SimotelClient) and the built-in
 * simulator behind it for tests. Methods throw the contract's outcomes:
 * Failed('pbx') when the PBX refuses, GatewayError('pbx') when it cannot be reached or fails.
 */
export interface PbxClient {
  /** The extension with exactly this number, or null; its secret is masked by the PBX. */
  find(number: string): Promise<Extension | null>;
  add(extension: Extension): Promise<void>;
  /** Sends the whole object, with `_id`. */
  update(extension: Extension): Promise<void>;
  remove(id: string): Promise<void>;
  /** Every extension (for pbx/sync). */
  list(): Promise<Extension[]>;
  ping(): Promise<void>;
}
