/**
 * torchrec-node-run: torchrun's variables and flags, "[rank r] " prefixes, fail-fast naming the
 * failing rank, SIGTERM/SIGKILL of the others, signal forwarding, and no process left behind.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { alive, cleanEnv, freePort, LAUNCHER, start } from './helpers';

const CHILD = path.join(__dirname, 'children', 'launch_child.js');

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A fresh directory for the ranks' ready files. */
function tmpDir(): string {
  dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'torchrec-node-run-')));
  return dirs[dirs.length - 1];
}

function run(args: string[]) {
  return start([LAUNCHER, ...args], cleanEnv(), 30000);
}

/** The pids the ranks printed ("[rank r] pid N"). */
function pids(stdout: string): number[] {
  return [...stdout.matchAll(/^\[rank \d+\] pid (\d+)$/gm)].map((m) => Number(m[1]));
}

async function expectAllGone(ps: number[]): Promise<void> {
  // Killed children are reaped by the launcher before it exits; allow the kernel a moment anyway.
  for (let i = 0; i < 50 && ps.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  expect(ps.filter(alive)).toEqual([]);
}

describe('torchrec-node-run', () => {
  test("sets torchrun's variables, passes the script's arguments, prefixes every line", async () => {
    const port = String(await freePort());
    const r = await run(['--nproc_per_node=2', '--master-port', port, CHILD, 'print', '--flag', 'x']).done;
    expect(r.code).toBe(0);
    for (const rank of [0, 1]) {
      const json = r.stdout.match(new RegExp(`^\\[rank ${rank}\\] (\\{.*\\})$`, 'm'));
      expect(JSON.parse(json?.[1] ?? 'null')).toEqual({
        RANK: String(rank),
        WORLD_SIZE: '2',
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: '2',
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: port,
        GROUP_RANK: '0',
      });
      expect(r.stdout).toContain(`[rank ${rank}] args ["--flag","x"]\n`);
      // Lines of different ranks may interleave, never the characters of one line.
      expect(r.stderr).toContain(`[rank ${rank}] to stderr\n`);
      expect(r.stderr).toContain(`[rank ${rank}] no newline at the end\n`);
    }
    for (const line of [...r.stdout.trim().split('\n'), ...r.stderr.trim().split('\n')])
      expect(line).toMatch(/^\[rank [01]\] /);
  });

  test('a free port when none is given; node ranks and world size for one of several nodes', async () => {
    const single = await run(['--nproc-per-node', '1', CHILD, 'print']).done;
    const port = Number(JSON.parse(single.stdout.match(/^\[rank 0\] (\{.*\})$/m)?.[1] ?? '{}').MASTER_PORT);
    expect(port).toBeGreaterThan(0);
    const node1 = await run([
      '--nproc-per-node',
      '2',
      '--nnodes',
      '3',
      '--node-rank',
      '1',
      '--master-addr',
      '10.0.0.1',
      '--master-port',
      '29500',
      CHILD,
      'print',
    ]).done;
    expect(node1.code).toBe(0);
    const envs = [...node1.stdout.matchAll(/^\[rank (\d+)\] (\{.*\})$/gm)].map((m) => [m[1], JSON.parse(m[2])]);
    expect(envs.sort()).toEqual([
      [
        '2',
        expect.objectContaining({
          RANK: '2',
          LOCAL_RANK: '0',
          WORLD_SIZE: '6',
          GROUP_RANK: '1',
          MASTER_ADDR: '10.0.0.1',
        }),
      ],
      [
        '3',
        expect.objectContaining({ RANK: '3', LOCAL_RANK: '1', WORLD_SIZE: '6', GROUP_RANK: '1', MASTER_PORT: '29500' }),
      ],
    ]);
  });

  test('the first failing rank stops the others and is named; no rank is left running', async () => {
    const r = await run(['--nproc-per-node', '3', CHILD, 'fail', tmpDir()]).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/torchrec-node-run: rank 1 \(pid \d+\) exited with code 3; the other ranks were stopped/);
    expect(pids(r.stdout)).toHaveLength(3);
    await expectAllGone(pids(r.stdout));
  });

  test('ranks that ignore SIGTERM are killed after the grace period', async () => {
    const r = await run(['--nproc-per-node', '2', '--kill-grace-ms', '300', CHILD, 'stubborn', tmpDir()]).done;
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('[rank 0] ignoring SIGTERM');
    expect(r.stderr).toContain('rank 1');
    await expectAllGone(pids(r.stdout));
  });

  test('SIGTERM to the launcher reaches every rank; it exits once they are gone', async () => {
    const launcher = run(['--nproc-per-node', '2', CHILD, 'wait']);
    let out = '';
    launcher.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 100 && pids(out).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pids(out)).toHaveLength(2);
    launcher.child.kill('SIGTERM');
    const r = await launcher.done;
    expect(r.code).toBe(128 + 15);
    expect(r.stderr).toContain('stopped by SIGTERM');
    await expectAllGone(pids(out));
  });

  test('a rank that takes its time over SIGTERM is waited for; a second SIGTERM kills it', async () => {
    const launcher = run(['--nproc-per-node', '2', '--kill-grace-ms', '100', CHILD, 'slow-stop']);
    let out = '';
    launcher.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 100 && pids(out).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pids(out)).toHaveLength(2);
    launcher.child.kill('SIGTERM');
    for (let i = 0; i < 100 && !out.includes('ignoring SIGTERM'); i++) await new Promise((r) => setTimeout(r, 50));
    // Well past the failure grace (100 ms): a user's stop request is not escalated on a timer.
    await new Promise((r) => setTimeout(r, 1000));
    expect(pids(out).every((pid) => alive(pid))).toBe(true);
    launcher.child.kill('SIGTERM');
    const r = await launcher.done;
    expect(r.code).toBe(128 + 15);
    expect(r.stderr).toContain('stopped by SIGTERM');
    await expectAllGone(pids(out));
  });

  test.each([
    [[], '--nproc-per-node is required'],
    [['--nproc-per-node', '2'], 'no script given'],
    [['--nproc-per-node', 'two', 'x.js'], '--nproc-per-node must be an integer'],
    [['--nproc-per-node', '2', '--nnodes', '2', 'x.js'], '--master-port is required'],
    [['--nprocs', '2', 'x.js'], 'unknown option --nprocs'],
  ])('usage error %j: exit 2 saying %s', async (args, message) => {
    const r = await run(args).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('usage: torchrec-node-run');
  });
});
