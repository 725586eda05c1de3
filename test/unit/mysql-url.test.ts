import { readMysqlUrl } from '../../src/db/mysql-url';

describe('MYSQL_URL', () => {
  it('reads one server, with the defaults MySQL clients use', () => {
    expect(readMysqlUrl('mysql://127.0.0.1/pbxgw')).toEqual({ servers: [{ host: '127.0.0.1', port: 3306, user: 'root', password: '' }], database: 'pbxgw' });
    expect(readMysqlUrl('mysql://gw:p%40ss%3Aword@db.example:3307/pbx_gw?ssl=1')).toEqual({
      servers: [{ host: 'db.example', port: 3307, user: 'gw', password: 'p@ss:word' }],
      database: 'pbx_gw',
    });
  });

  it('reads several servers of a cluster in their order, IPv6 in brackets', () => {
    const url = readMysqlUrl('mysql://gw:secret@10.0.0.1:3306,10.0.0.2,[::1]:3308/pbxgw');
    expect(url?.servers.map(({ host, port }) => `${host} ${port}`)).toEqual(['10.0.0.1 3306', '10.0.0.2 3306', '::1 3308']);
    expect(url?.servers.every((server) => server.user === 'gw' && server.password === 'secret')).toBe(true);
  });

  it.each([
    'http://127.0.0.1/pbxgw',
    'mysql://127.0.0.1',
    'mysql://127.0.0.1/',
    'mysql://127.0.0.1/pbx-gw',
    'mysql://127.0.0.1:99999/pbxgw',
    'mysql://127.0.0.1:3306,/pbxgw',
    'mysql://a b/pbxgw',
    'mysql://%zz@127.0.0.1/pbxgw',
  ])('refuses %s', (text) => {
    expect(readMysqlUrl(text)).toBeNull();
  });
});
