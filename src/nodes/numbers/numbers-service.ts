import type { ChangeScope } from '../../db/change-scope';
import { Failed, Invalid } from '../../outcome';
import { countryCallingCode, e164ToInteger } from '../../values/e164';
import type { Page, PageRequest } from '../paging';
import type { NumbersStore, RangeResult } from './numbers-store';

export interface NumbersServiceDeps {
  readonly numbers: NumbersStore;
  readonly maxRange: number;
}

export interface ListRequest {
  readonly like: string | null;
  readonly random: boolean;
  readonly limit: number | null;
  /** An E.164 number: only the numbers after it in ascending order (not with random). */
  readonly after: string | null;
}

export class NumbersService {
  private readonly numbers: NumbersStore;
  private readonly maxRange: number;

  constructor(deps: NumbersServiceDeps) {
    this.numbers = deps.numbers;
    this.maxRange = deps.maxRange;
  }

  /**
   * A random sample, or the whole list (from `after` on) in ascending order: streamed, as it may be
   * millions of numbers. A page (a limit without random) is `page`.
   */
  list(request: ListRequest): AsyncIterable<string> {
    if (request.random) {
      if (request.after !== null) throw new Invalid('after', 'after pages the ascending order; it does not apply to random=true');
      return this.numbers.listRandom(request.like, request.limit);
    }
    return this.numbers.listOrdered(request.like, request.after === null ? null : e164ToInteger(request.after));
  }

  /** One page of the ascending order: at most `limit` numbers after `after`, and `next` while more follow. */
  page(like: string | null, page: PageRequest<string> & { readonly limit: number }): Promise<Page<string, string>> {
    return this.numbers.page(like, page.after === null ? null : e164ToInteger(page.after), page.limit);
  }

  add(number: string, audit?: ChangeScope): Promise<void> {
    return this.numbers.add(e164ToInteger(number), audit);
  }

  /** The seed's "identical lead-in" is the ITU-T country calling code; the range is inclusive. */
  addRange(start: string, end: string, dryRun: boolean, audit?: ChangeScope): Promise<RangeResult> {
    const startCode = countryCallingCode(start);
    const endCode = countryCallingCode(end);
    if (startCode === null) throw new Invalid('range', `${start} has no assigned country calling code`);
    if (startCode !== endCode) {
      throw new Invalid('range', `${start} and ${end} have different country calling codes (+${startCode}, +${endCode ?? '?'})`);
    }
    const first = e164ToInteger(start);
    const last = e164ToInteger(end);
    if (first >= last) throw new Invalid('range', 'start must be less than end');
    if (last - first + 1 > this.maxRange) {
      throw new Invalid('range', `the range covers ${last - first + 1} numbers; at most ${this.maxRange} may be added at once`);
    }
    return this.numbers.addRange(first, last, dryRun, audit);
  }

  remove(number: string, audit?: ChangeScope): Promise<void> {
    return this.numbers.remove(e164ToInteger(number), audit);
  }

  async inPool(number: string): Promise<void> {
    if (!(await this.numbers.contains(e164ToInteger(number)))) throw new Failed('nonexistant', `${number} is not in the pool`);
  }
}
