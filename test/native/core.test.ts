/**
 * Runs the C++ tests of native/core (test/native/*_test.cc: the LookupPlan, the CPU store, the
 * training state, without Node) under `npm test`: builds their target in the source build's folder
 * (incremental: the core objects are the addon's) and runs the binary. Needs a source build in
 * build/ and GoogleTest (Debian: libgtest-dev, which scripts/setup-debian.sh installs).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { testIf } from '../helpers/skip';

const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = path.join(ROOT, 'build');
const hasSourceBuild = fs.existsSync(path.join(BUILD, 'CMakeCache.txt'));

testIf(
  hasSourceBuild,
  'the core C++ tests build and pass',
  'no source build in build/ (the addon came from a prebuilt package)',
  () => {
    const cache = fs.readFileSync(path.join(BUILD, 'CMakeCache.txt'), 'utf8');
    if (!/^GTest_DIR:PATH=(?!.*NOTFOUND)/m.test(cache)) {
      throw new Error('GoogleTest was not found when build/ was configured: install libgtest-dev, then rebuild');
    }
    execFileSync('cmake', ['--build', BUILD, '--target', 'torchrec_core_tests'], { stdio: 'pipe' });
    const run = spawnSync(path.join(BUILD, 'torchrec_core_tests'), ['--gtest_brief=1'], { encoding: 'utf8' });
    const output = `${run.stdout}${run.stderr}`;
    expect({ status: run.status, signal: run.signal, failed: output.match(/\[ {2}FAILED {2}\].*/g) ?? [] }).toEqual({
      status: 0,
      signal: null,
      failed: [],
    });
    expect(output).toMatch(/\[ {2}PASSED {2}\] \d+ tests?\./);
  },
  300000,
);
