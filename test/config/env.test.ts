import { expandEnv } from '../../lib/config/env';

describe('expandEnv (string.Template.safe_substitute semantics)', () => {
  const env = { DIM: '8', ROOT: '/data', EMPTY: '', LOGNAME: 'alice', USER: 'bob' };

  it('replaces ${VAR} and $VAR', () => {
    expect(expandEnv('dim: ${DIM}, root: $ROOT/x', env)).toBe('dim: 8, root: /data/x');
  });

  it('leaves unknown variables and lone dollars untouched', () => {
    expect(expandEnv('a: ${NOPE} b: $NOPE c: $1 d: $ e: ${bad-name}', env)).toBe(
      'a: ${NOPE} b: $NOPE c: $1 d: $ e: ${bad-name}',
    );
  });

  it('turns $$ into a literal dollar', () => {
    expect(expandEnv('price: $$DIM', env)).toBe('price: $DIM');
  });

  it('uses ${VAR:-default} when the variable is unset or empty', () => {
    expect(expandEnv('${NOPE:-3} ${EMPTY:-4} ${DIM:-5}', env)).toBe('3 4 8');
  });

  it('resolves USER like getpass.getuser (LOGNAME first)', () => {
    expect(expandEnv('${USER}', env)).toBe('alice');
  });

  it('does not read inherited properties as variables', () => {
    expect(expandEnv('$constructor ${toString}', {})).toBe('$constructor ${toString}');
  });
});
