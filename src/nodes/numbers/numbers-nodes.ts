import { defineNode, StreamedList, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { globToLike } from '../../values/glob';
import type { NumbersService } from './numbers-service';

export function numbersNodes(numbers: NumbersService): NodeDefinition[] {
  const numberParam = { number: param.e164().required() };
  return [
    defineNode<{ search?: string; random?: boolean; limit?: number }>({
      path: 'numbers/list',
      longWork: true,
      scope: 'read',
      summary: 'The free numbers: ascending numeric order, or random order with random=true; all of them unless limit is given.',
      params: {
        search: param.search(),
        random: param.flag('true: a random sample in random order.'),
        limit: param.limit(),
      },
      answers: { numbers: 'Array of E.164 numbers.' },
      handle: async ({ search, random = false, limit }) =>
        new StreamedList(
          'numbers',
          numbers.list({ like: search === undefined ? null : globToLike(search), random, limit: limit ?? null }),
        ),
    }),
    defineNode<{ number: string }>({
      path: 'numbers/add',
      scope: 'write',
      summary: 'Adds one number to the pool.',
      params: numberParam,
      answers: { detail: '"Added <number>".' },
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
      params: { start: param.e164().required(), end: param.e164().required(), dry_run: param.dryRun() },
      answers: { added: 'How many numbers were added.', existing: 'How many were in the pool already.', dry_run: 'true when nothing was changed' },
      failures: { range: 'invalid: different country calling codes, start ≥ end, or more than NUMBERS_MAX_RANGE numbers' },
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
      answers: { number: 'The number pulled.' },
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
      answers: { number: 'The number, when it is in the pool.' },
      failures: { nonexistant: 'the number is not in the pool' },
      handle: async ({ number }) => {
        await numbers.inPool(number);
        return { number };
      },
    }),
  ];
}
