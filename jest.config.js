/**
 * Tests run the TypeScript sources through ts-jest against the built native addon. The parquet
 * libraries (hyparquet, hyparquet-writer) ship ESM only, so ts-jest also transforms them to CommonJS.
 */
const esmOnly = ['hyparquet', 'hyparquet-writer'];

module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testTimeout: 60000,
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }],
    [`node_modules/(${esmOnly.join('|')})/.+\\.js$`]: [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2020', skipLibCheck: true } },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
};
