import { startTestGateway, type TestGateway } from '../helpers/gateway';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

async function list(params: Record<string, string | number | boolean> = {}, on: TestGateway = gateway): Promise<string[]> {
  const response = await on.get('numbers/list', params);
  expect(response.status).toBe(200);
  expect(response.body.response).toBe('ok');
  expect(Array.isArray(response.body.numbers)).toBe(true);
  return response.body.numbers as string[];
}

async function add(...numbers: string[]): Promise<void> {
  for (const number of numbers) {
    expect((await gateway.get('numbers/add', { number })).body).toEqual({ response: 'ok', detail: `Added ${number}` });
  }
}

/** The numbers from first to first+count-1, as E.164. */
function block(first: number, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `+${first + index}`);
}

function numericallySorted(numbers: string[]): string[] {
  return [...numbers].sort((a, b) => (BigInt(a.slice(1)) < BigInt(b.slice(1)) ? -1 : 1));
}

async function storedCount(low: number, high: number): Promise<number> {
  const rows = await gateway.query<{ n: number }>('SELECT COUNT(*) AS n FROM numbers WHERE number BETWEEN ? AND ?', [low, high]);
  return Number(rows[0].n);
}

describe('numbers/list', () => {
  it('answers an empty array for an empty pool, ordered or random', async () => {
    const empty = await startTestGateway();
    try {
      expect((await empty.get('numbers/list')).body).toEqual({ response: 'ok', numbers: [] });
      expect((await empty.get('numbers/list', { random: true })).body).toEqual({ response: 'ok', numbers: [] });
      expect((await empty.get('numbers/list', { random: true, limit: 5 })).body).toEqual({ response: 'ok', numbers: [] });
      expect((await empty.get('numbers/list', { search: '47' })).body).toEqual({ response: 'ok', numbers: [] });
    } finally {
      await empty.close();
    }
  });

  it('lists the whole pool in ascending numeric order across lengths and countries', async () => {
    const mixed = ['+12025550101', '+4790001001', '+358401000101', '+44207100101', '+74951000101', '+861000101', '+31201000101'];
    await add(...mixed);
    const numbers = await list();
    expect(numbers).toEqual(numericallySorted(numbers));
    const ours = numbers.filter((number) => mixed.includes(number));
    // Numeric, not lexicographic: +861000101 (9 digits) comes first, +358401000101 (12 digits) last.
    expect(ours).toEqual(['+861000101', '+4790001001', '+12025550101', '+31201000101', '+44207100101', '+74951000101', '+358401000101']);
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it('gives every number with its + in canonical form', async () => {
    await add('+4790001101');
    const numbers = await list({ search: '4790001101' });
    expect(numbers).toEqual(['+4790001101']);
    for (const number of await list()) expect(number).toMatch(/^\+[1-9][0-9]{1,14}$/);
  });

  it('finds a search anywhere in the number (pre-post glob)', async () => {
    await add('+4712345678', '+4799123459', '+4798765432');
    expect(await list({ search: '1234' })).toEqual(expect.arrayContaining(['+4712345678', '+4799123459']));
    const found = await list({ search: '1234' });
    expect(found).not.toContain('+4798765432');
    expect(found.every((number) => number.includes('1234'))).toBe(true);
  });

  it("matches against the canonical form, so a leading '+' anchors at the start", async () => {
    await add('+4790002201', '+4479000220');
    const found = await list({ search: '+4790002' });
    expect(found).toContain('+4790002201');
    expect(found).not.toContain('+4479000220');
    expect(await list({ search: '790002' })).toEqual(expect.arrayContaining(['+4790002201', '+4479000220']));
  });

  it("treats '*' as any run and '?' as one character", async () => {
    await add('+4790003301', '+4790003391', '+4790004301');
    expect(await list({ search: '+479000?301' })).toEqual(['+4790003301', '+4790004301']);
    expect(await list({ search: '+4790003*1' })).toEqual(['+4790003301', '+4790003391']);
    expect(await list({ search: '900033?1' })).toEqual(['+4790003301', '+4790003391']);
  });

  it("treats '%' and '_' literally, so they match no number", async () => {
    await add('+4790005501');
    expect(await list({ search: '%' })).toEqual([]);
    expect(await list({ search: '_' })).toEqual([]);
    expect(await list({ search: '479000550_' })).toEqual([]);
    expect(await list({ search: '4790%5501' })).toEqual([]);
    expect(await list({ search: '479000550?' })).toEqual(['+4790005501']);
  });

  it('gives the search results in ascending numeric order', async () => {
    const numbers = ['+4790006609', '+479000660', '+4790006601', '+47900066055'];
    await add(...numbers);
    expect(await list({ search: '4790006' })).toEqual(['+479000660', '+4790006601', '+4790006609', '+47900066055']);
  });

  it('stops after limit numbers, the lowest first', async () => {
    await add(...block(4790007701, 10));
    expect(await list({ search: '47900077', limit: 3 })).toEqual(['+4790007701', '+4790007702', '+4790007703']);
    const firstFive = await list({ limit: 5 });
    expect(firstFive).toHaveLength(5);
    expect(firstFive).toEqual((await list()).slice(0, 5));
  });

  it('refuses a limit outside 1–100000 or not an integer', async () => {
    for (const limit of ['0', '-1', '100001', '2.5', 'many']) {
      expect((await gateway.get('numbers/list', { limit })).body).toMatchObject({ response: 'invalid', cause: 'limit' });
    }
    expect((await gateway.get('numbers/list', { limit: 100000 })).body.response).toBe('ok');
  });

  it('refuses a random value that is not a boolean', async () => {
    expect((await gateway.get('numbers/list', { random: 'sometimes' })).body).toMatchObject({ response: 'invalid', cause: 'random' });
  });

  it('with random=true returns the matching numbers without duplicates, not always in the same order', async () => {
    const pool = block(4790008801, 12);
    await add(...pool);
    const orders = new Set<string>();
    for (let round = 0; round < 12; round += 1) {
      const numbers = await list({ search: '+47900088', random: true });
      expect([...numbers].sort()).toEqual([...pool].sort());
      orders.add(numbers.join(','));
    }
    expect(orders.size).toBeGreaterThan(1);
  });

  it('with random=true and limit returns a subset of the pool without duplicates, varying between calls', async () => {
    await add(...block(4790009901, 60));
    const whole = new Set(await list());
    const answers = new Set<string>();
    for (let round = 0; round < 10; round += 1) {
      const sample = await list({ random: true, limit: 5 });
      expect(sample).toHaveLength(5);
      expect(new Set(sample).size).toBe(5);
      for (const number of sample) expect(whole.has(number)).toBe(true);
      answers.add(sample.join(','));
    }
    expect(answers.size).toBeGreaterThan(1);
  });

  it('with random=true, search and limit returns a matching subset', async () => {
    const pool = block(4790010001, 20);
    await add(...pool);
    const orders = new Set<string>();
    for (let round = 0; round < 10; round += 1) {
      const sample = await list({ search: '+47900100', random: true, limit: 4 });
      expect(sample).toHaveLength(4);
      expect(new Set(sample).size).toBe(4);
      for (const number of sample) expect(pool).toContain(number);
      orders.add(sample.join(','));
    }
    expect(orders.size).toBeGreaterThan(1);
  });

  it('with random=true and a limit above the pool size returns every matching number once', async () => {
    const pool = block(4790011001, 3);
    await add(...pool);
    const sample = await list({ search: '+47900110', random: true, limit: 50 });
    expect([...sample].sort()).toEqual(pool);
  });

  it('with random=true and a small limit on a big pool returns distinct pool members', async () => {
    const many = await gateway.get('numbers/add_range', { start: '+4790012000', end: '+4790012999' });
    expect(many.body).toEqual({ response: 'ok', added: 1000, existing: 0 });
    const whole = new Set(await list());
    const sample = await list({ random: true, limit: 200 });
    expect(sample).toHaveLength(200);
    expect(new Set(sample).size).toBe(200);
    for (const number of sample) expect(whole.has(number)).toBe(true);
  });

  it('refuses an unknown parameter', async () => {
    expect((await gateway.get('numbers/list', { order: 'desc' })).body).toMatchObject({ response: 'invalid', cause: 'parameter' });
  });
});

describe('numbers/add', () => {
  it('adds a number and answers "Added <number>"', async () => {
    const response = await gateway.get('numbers/add', { number: '+4790101001' });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response: 'ok', detail: 'Added +4790101001' });
    expect((await gateway.get('numbers/inpool', { number: '+4790101001' })).body).toEqual({ response: 'ok', number: '+4790101001' });
  });

  it('fails with exists for a number already in the pool, and keeps it once', async () => {
    await add('+4790101101');
    const again = await gateway.get('numbers/add', { number: '+4790101101' });
    expect(again.body).toMatchObject({ response: 'failed', cause: 'exists', detail: expect.any(String) });
    expect(await storedCount(4790101101, 4790101101)).toBe(1);
  });

  it.each([
    ['without +', '4790101201'],
    ['with a leading 0', '+0790101201'],
    ['with 16 digits', '+4790101201123456'],
    ['with one digit', '+4'],
    ['with a letter', '+47901o1201'],
    ['with a space (an unencoded +)', ' 4790101201'],
    ['empty', ''],
  ])('refuses a number %s as invalid number', async (_what, number) => {
    const response = await gateway.get('numbers/add', { number });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'number', detail: expect.any(String) });
  });

  it('refuses a missing number', async () => {
    expect((await gateway.get('numbers/add')).body).toMatchObject({ response: 'invalid', cause: 'number' });
  });

  it('accepts the shortest and the longest E.164 numbers', async () => {
    await add('+22', '+999999999999999');
    expect(await list({ search: '+22' })).toContain('+22');
    expect((await gateway.get('numbers/inpool', { number: '+999999999999999' })).body.response).toBe('ok');
  });

  it('adds exactly one of 20 concurrent adds of the same number', async () => {
    const number = '+4790101301';
    const answers = await Promise.all(Array.from({ length: 20 }, () => gateway.get('numbers/add', { number })));
    const outcomes = answers.map((answer) => `${answer.body.response}/${answer.body.cause ?? ''}`);
    expect(outcomes.filter((outcome) => outcome === 'ok/')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'failed/exists')).toHaveLength(19);
    expect(await storedCount(4790101301, 4790101301)).toBe(1);
  });
});

describe('numbers/add_range', () => {
  it('adds every number from start to end inclusive', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+4790201000', end: '+4790201009' });
    expect(response.body).toEqual({ response: 'ok', added: 10, existing: 0 });
    expect(await list({ search: '+47902010' })).toEqual(block(4790201000, 10));
  });

  it('iterates the numeric parts, also across a change of length in the digits that follow', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+4790201998', end: '+4790202001' });
    expect(response.body).toEqual({ response: 'ok', added: 4, existing: 0 });
    expect(await list({ search: '+479020' })).toEqual(expect.arrayContaining(['+4790201998', '+4790201999', '+4790202000', '+4790202001']));
  });

  it('fills an empty pool (InnoDB bulk load) and then counts an overlapping range right, without duplicates', async () => {
    const own = await startTestGateway();
    try {
      const [first, second] = await Promise.all([
        own.get('numbers/add_range', { start: '+4790300000', end: '+4790319999' }),
        own.get('numbers/add_range', { start: '+4790300000', end: '+4790319999' }),
      ]);
      // Two at once into the empty pool: one adds them all, the other finds them all there.
      expect([first.body, second.body].filter((body) => body.response !== 'ok')).toEqual([]);
      expect([first.body.added, second.body.added].sort((a, b) => a - b)).toEqual([0, 20000]);
      expect(first.body.added + first.body.existing).toBe(20000);
      const overlap = await own.get('numbers/add_range', { start: '+4790319990', end: '+4790320009' });
      expect(overlap.body).toEqual({ response: 'ok', added: 10, existing: 10 });
      const [counts] = await own.query<{ total: number; distinct_numbers: number; distinct_seq: number }>(
        'SELECT COUNT(*) AS total, COUNT(DISTINCT number) AS distinct_numbers, COUNT(DISTINCT seq) AS distinct_seq FROM numbers',
      );
      expect(counts).toEqual({ total: 20010, distinct_numbers: 20010, distinct_seq: 20010 });
      expect((await own.get('numbers/list', { random: true, limit: 10 })).body.numbers).toHaveLength(10);
    } finally {
      await own.close();
    }
  });

  it('iterates numerically when start and end have different lengths (+4798 to +47101)', async () => {
    const own = await startTestGateway();
    try {
      const response = await own.get('numbers/add_range', { start: '+4798', end: '+47101' });
      expect(response.body).toEqual({ response: 'ok', added: 47101 - 4798 + 1, existing: 0 });
      expect((await own.get('numbers/list', { limit: 3 })).body.numbers).toEqual(['+4798', '+4799', '+4800']);
      expect((await own.get('numbers/inpool', { number: '+47101' })).body.response).toBe('ok');
      expect((await own.get('numbers/inpool', { number: '+47102' })).body.response).toBe('failed');
      expect((await own.get('numbers/inpool', { number: '+4797' })).body.response).toBe('failed');
    } finally {
      await own.close();
    }
  });

  it("refuses the seed's example range +471234..+47123456 with the default limit (46652223 numbers)", async () => {
    const response = await gateway.get('numbers/add_range', { start: '+471234', end: '+47123456' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
    expect(await storedCount(471234, 47123456)).toBe(0);
  });

  it('counts numbers already in the pool as existing and leaves them as they were', async () => {
    await add('+4790202102', '+4790202105');
    const before = await gateway.query<{ number: number; seq: number }>(
      'SELECT number, seq FROM numbers WHERE number IN (4790202102, 4790202105) ORDER BY number',
    );
    const response = await gateway.get('numbers/add_range', { start: '+4790202100', end: '+4790202109' });
    expect(response.body).toEqual({ response: 'ok', added: 8, existing: 2 });
    const after = await gateway.query<{ number: number; seq: number }>(
      'SELECT number, seq FROM numbers WHERE number IN (4790202102, 4790202105) ORDER BY number',
    );
    expect(after).toEqual(before);
    expect(await storedCount(4790202100, 4790202109)).toBe(10);
  });

  it('answers a range that is all in the pool already with added 0', async () => {
    await gateway.get('numbers/add_range', { start: '+4790202200', end: '+4790202204' });
    const again = await gateway.get('numbers/add_range', { start: '+4790202200', end: '+4790202204' });
    expect(again.body).toEqual({ response: 'ok', added: 0, existing: 5 });
    expect(await storedCount(4790202200, 4790202204)).toBe(5);
  });

  it('adds two numbers for a range of two', async () => {
    expect((await gateway.get('numbers/add_range', { start: '+4790202300', end: '+4790202301' })).body).toEqual({
      response: 'ok',
      added: 2,
      existing: 0,
    });
  });

  it.each([
    ['start', { start: '4790202400', end: '+4790202409' }],
    ['start', { start: '+0790202400', end: '+4790202409' }],
    ['end', { start: '+4790202400', end: '+47902024091234567' }],
    ['end', { start: '+4790202400', end: 'x' }],
  ])('refuses a %s that is not E.164', async (cause, params) => {
    const response = await gateway.get('numbers/add_range', params);
    expect(response.body).toMatchObject({ response: 'invalid', cause });
    expect(await storedCount(4790202400, 4790202409)).toBe(0);
  });

  it('refuses a missing start or end', async () => {
    expect((await gateway.get('numbers/add_range', { end: '+4790202409' })).body).toMatchObject({ response: 'invalid', cause: 'start' });
    expect((await gateway.get('numbers/add_range', { start: '+4790202400' })).body).toMatchObject({ response: 'invalid', cause: 'end' });
  });

  it('refuses start and end with different country calling codes (+4799999999..+4800000001) and adds none', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+4799999999', end: '+4800000001' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'range', detail: expect.any(String) });
    expect(await storedCount(4799999999, 4800000001)).toBe(0);
  });

  it('refuses different country calling codes of different lengths', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+3531000000', end: '+3581000000' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
    const oneDigit = await gateway.get('numbers/add_range', { start: '+12025550100', end: '+2025550100' });
    expect(oneDigit.body).toMatchObject({ response: 'invalid', cause: 'range' });
  });

  it('accepts a range within a three-digit country calling code', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+358401002000', end: '+358401002004' });
    expect(response.body).toEqual({ response: 'ok', added: 5, existing: 0 });
  });

  it('refuses start equal to end', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+4790202500', end: '+4790202500' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
    expect(await storedCount(4790202500, 4790202500)).toBe(0);
  });

  it('refuses start greater than end', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+4790202609', end: '+4790202600' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
    expect(await storedCount(4790202600, 4790202609)).toBe(0);
  });

  it('refuses more than NUMBERS_MAX_RANGE numbers (default 1000000) before adding any', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+4791000000', end: '+4792000000' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
    expect(await storedCount(4791000000, 4792000000)).toBe(0);
  });

  describe('with NUMBERS_MAX_RANGE 100', () => {
    let small: TestGateway;

    beforeAll(async () => {
      small = await startTestGateway({ numbersMaxRange: 100 });
    });

    afterAll(async () => {
      await small.close();
    });

    it('accepts exactly 100 numbers', async () => {
      const response = await small.get('numbers/add_range', { start: '+4790300000', end: '+4790300099' });
      expect(response.body).toEqual({ response: 'ok', added: 100, existing: 0 });
    });

    it('refuses 101 numbers and adds none of them', async () => {
      const response = await small.get('numbers/add_range', { start: '+4790300200', end: '+4790300300' });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
      expect((await small.get('numbers/list', { search: '+4790300[23]' })).body.numbers).toEqual([]);
      const rows = await small.query<{ n: number }>('SELECT COUNT(*) AS n FROM numbers WHERE number BETWEEN 4790300200 AND 4790300300');
      expect(Number(rows[0].n)).toBe(0);
    });

    it('counts the numbers covered, not the numbers new to the pool', async () => {
      await small.get('numbers/add', { number: '+4790300450' });
      const response = await small.get('numbers/add_range', { start: '+4790300400', end: '+4790300500' });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
      const rows = await small.query<{ n: number }>('SELECT COUNT(*) AS n FROM numbers WHERE number BETWEEN 4790300400 AND 4790300500');
      expect(Number(rows[0].n)).toBe(1);
    });

    it('refuses an over-limit range also as a dry run', async () => {
      const response = await small.get('numbers/add_range', { start: '+4790300600', end: '+4790300700', dry_run: true });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
    });
  });

  it('with dry_run=true answers the counts and changes nothing', async () => {
    await add('+4790202703');
    const response = await gateway.get('numbers/add_range', { start: '+4790202700', end: '+4790202709', dry_run: true });
    expect(response.body).toEqual({ response: 'ok', added: 9, existing: 1, dry_run: true });
    expect(await storedCount(4790202700, 4790202709)).toBe(1);
    expect(await list({ search: '+47902027' })).toEqual(['+4790202703']);
  });

  it('with dry_run=true still refuses an invalid range', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+4799999999', end: '+4800000001', dry_run: true });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'range' });
  });

  it('with dry_run=false adds as usual', async () => {
    const response = await gateway.get('numbers/add_range', { start: '+4790202800', end: '+4790202801', dry_run: false });
    expect(response.body).toEqual({ response: 'ok', added: 2, existing: 0 });
    expect(await storedCount(4790202800, 4790202801)).toBe(2);
  });

  it('leaves no duplicates when overlapping ranges are added concurrently, and the added counts sum to the distinct count', async () => {
    // Ten ranges of 50 starting 10 apart over +4790400000..+4790400139: 140 distinct numbers.
    const ranges = Array.from({ length: 10 }, (_, index) => ({
      start: `+${4790400000 + index * 10}`,
      end: `+${4790400000 + index * 10 + 49}`,
    }));
    const answers = await Promise.all(ranges.map((range) => gateway.get('numbers/add_range', range)));
    for (const answer of answers) expect(answer.body).toMatchObject({ response: 'ok' });
    const added = answers.reduce((sum, answer) => sum + (answer.body.added as number), 0);
    const existing = answers.reduce((sum, answer) => sum + (answer.body.existing as number), 0);
    expect(added).toBe(140);
    expect(added + existing).toBe(500);
    const numbers = await list({ search: '+4790400' });
    expect(numbers).toEqual(block(4790400000, 140));
    const rows = await gateway.query<{ n: number; d: number }>(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT number) AS d FROM numbers WHERE number BETWEEN 4790400000 AND 4790400139',
    );
    expect(Number(rows[0].n)).toBe(140);
    expect(Number(rows[0].d)).toBe(140);
  });
});

describe('numbers/remove', () => {
  it('pulls a number from the pool and answers it', async () => {
    await add('+4790501001');
    const response = await gateway.get('numbers/remove', { number: '+4790501001' });
    expect(response.body).toEqual({ response: 'ok', number: '+4790501001' });
    expect((await gateway.get('numbers/inpool', { number: '+4790501001' })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('fails with nonexistant for a number not in the pool', async () => {
    const response = await gateway.get('numbers/remove', { number: '+4790501101' });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('fails with nonexistant when the number was removed already', async () => {
    await add('+4790501201');
    expect((await gateway.get('numbers/remove', { number: '+4790501201' })).body.response).toBe('ok');
    expect((await gateway.get('numbers/remove', { number: '+4790501201' })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('removes only the given number', async () => {
    await add('+4790501301', '+4790501302');
    await gateway.get('numbers/remove', { number: '+4790501301' });
    expect(await list({ search: '+47905013' })).toEqual(['+4790501302']);
  });

  it('lets a removed number be added again', async () => {
    await add('+4790501401');
    await gateway.get('numbers/remove', { number: '+4790501401' });
    await add('+4790501401');
    expect((await gateway.get('numbers/inpool', { number: '+4790501401' })).body.response).toBe('ok');
  });

  it('refuses an invalid number', async () => {
    expect((await gateway.get('numbers/remove', { number: '4790501501' })).body).toMatchObject({ response: 'invalid', cause: 'number' });
    expect((await gateway.get('numbers/remove')).body).toMatchObject({ response: 'invalid', cause: 'number' });
  });
});

describe('numbers/inpool', () => {
  it('answers ok with the number when it is in the pool', async () => {
    await add('+4790601001');
    expect((await gateway.get('numbers/inpool', { number: '+4790601001' })).body).toEqual({ response: 'ok', number: '+4790601001' });
  });

  it('fails with nonexistant when it is not', async () => {
    const response = await gateway.get('numbers/inpool', { number: '+4790601101' });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('does not confuse numbers with the same digits in a different length', async () => {
    await add('+4790601201');
    expect((await gateway.get('numbers/inpool', { number: '+479060120' })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect((await gateway.get('numbers/inpool', { number: '+47906012010' })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('refuses an invalid number', async () => {
    expect((await gateway.get('numbers/inpool', { number: '+47 90601301' })).body).toMatchObject({ response: 'invalid', cause: 'number' });
    expect((await gateway.get('numbers/inpool')).body).toMatchObject({ response: 'invalid', cause: 'number' });
  });

  it('takes the number from a POST body too', async () => {
    await add('+4790601401');
    expect((await gateway.post('numbers/inpool', { number: '+4790601401' })).body).toEqual({ response: 'ok', number: '+4790601401' });
  });
});
