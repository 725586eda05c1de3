import { defineNode, StreamedList, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { answer } from '../../http/answer-schemas';
import { globToLike } from '../../values/glob';
import { pageAnswer, readsWholeList } from '../paging';
import type { NumbersService } from './numbers-service';

export function numbersNodes(numbers: NumbersService): NodeDefinition[] {
  const numberParam = { number: param.e164().required() };
  return [
    defineNode<{ search?: string; random?: boolean; limit?: number; after?: string }>({
      path: 'numbers/list',
      // Only a page is short: a random sample may sort the whole pool (numbers-store.ts).
      longWork: (params) => params.random === true || readsWholeList(params),
      scope: 'read',
      summary: 'The free numbers: ascending numeric order, or random order with random=true; all of them unless limit is given.',
      params: {
        search: param.search(),
        random: param.flag('true: a random sample in random order.'),
        limit: param.limit().description('At most this many numbers (1–100000): without random a page, whose answer carries next while more follow.'),
        after: param.e164(null).description('Only the numbers after this one in ascending order: the next of the previous page (not with random).'),
      },
      answers: {
        numbers: answer.e164s('The free numbers, in ascending numeric order (random order with random=true).'),
        next: answer.next(answer.e164('The number to give as after for the following page.')),
      },
      failures: { after: { invalid: 'after with random=true' } },
      handle: async ({ search, random = false, limit, after }) => {
        const like = search === undefined ? null : globToLike(search);
        // A page is at most `limit` numbers, answered whole so that `next` can follow them; the whole
        // list and a random sample stream.
        if (!random && limit !== undefined) return pageAnswer('numbers', await numbers.page(like, { limit, after: after ?? null }));
        return new StreamedList('numbers', numbers.list({ like, random, limit: limit ?? null, after: after ?? null }));
      },
    }),
    defineNode<{ number: string }>({
      path: 'numbers/add',
      scope: 'write',
      summary: 'Adds one number to the pool.',
      params: numberParam,
      answers: { detail: answer.text('"Added <number>".') },
      failures: { exists: 'the number is in the pool already' },
      handle: async ({ number }, { audit }) => {
        await numbers.add(number, audit);
        return { detail: `Added ${number}` };
      },
    }),
    defineNode<{ start: string; end: string; dry_run?: boolean }>({
      path: 'numbers/add_range',
      longWork: true,
      scope: 'write',
      summary: 'Adds every number from start to end inclusive, all or nothing; numbers already in the pool are counted, not changed.',
      params: { start: param.e164('+4761123400').required(), end: param.e164('+4761123499').required(), dry_run: param.dryRun() },
      answers: { added: answer.count('How many numbers were added.'), existing: answer.count('How many were in the pool already.'), dry_run: answer.dryRun },
      failures: { range: { invalid: 'different country calling codes, start ≥ end, or more than NUMBERS_MAX_RANGE numbers' } },
      handle: async ({ start, end, dry_run: dryRun = false }, { audit }) => {
        const result = await numbers.addRange(start, end, dryRun, audit);
        return { ...result, ...(dryRun ? { dry_run: true } : {}) };
      },
    }),
    defineNode<{ number: string }>({
      path: 'numbers/remove',
      scope: 'write',
      summary: 'Pulls a number from the pool.',
      params: numberParam,
      answers: { number: answer.e164('The number pulled.') },
      failures: { nonexistant: 'the number is not in the pool' },
      handle: async ({ number }, { audit }) => {
        await numbers.remove(number, audit);
        return { number };
      },
    }),
    defineNode<{ number: string }>({
      path: 'numbers/inpool',
      scope: 'read',
      summary: 'Whether a number is in the pool.',
      params: numberParam,
      answers: { number: answer.e164('The number, when it is in the pool.') },
      failures: { nonexistant: 'the number is not in the pool' },
      handle: async ({ number }) => {
        await numbers.inPool(number);
        return { number };
      },
    }),
  ];
}
