// CPU time of a server's process tree, from Linux's /proc counters: what Workers bills is
// CPU time, not wall time, so the benchmarks report CPU per request beside latency.
import { readFileSync, readdirSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** [pid, ppid, comm, cpu ms (user + system, all threads)] of every process. */
function processes() {
  const out = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // comm may hold spaces and parentheses: the fields resume after the last ')'.
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      const ppid = Number(fields[1]);
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
      out.push({ pid: Number(entry), ppid, comm, ms: (ticks * 1000) / TICKS_PER_SECOND });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The processes of the tree under `rootPid` (itself included). */
function tree(rootPid) {
  const all = processes();
  const children = new Map();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const found = [];
  const stack = [...(children.get(rootPid) ?? []), ...all.filter((p) => p.pid === rootPid)];
  const seen = new Set();
  while (stack.length > 0) {
    const p = stack.pop();
    if (seen.has(p.pid)) continue;
    seen.add(p.pid);
    found.push(p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return found;
}

/** The pids of the tree's processes whose name starts with `comm`. */
export function treePids(rootPid, comm) {
  return tree(rootPid)
    .filter((p) => p.comm.startsWith(comm))
    .map((p) => String(p.pid));
}

/** CPU milliseconds used so far by the process tree under `rootPid`, split into workerd and the rest (wrangler, npx). */
export function treeCpu(rootPid) {
  const result = { workerdMs: 0, otherMs: 0 };
  for (const p of tree(rootPid)) {
    if (p.comm.startsWith("workerd")) result.workerdMs += p.ms;
    else result.otherMs += p.ms;
  }
  return result;
}

/**
 * Writes so far by the tree's workerd processes, from /proc/<pid>/io: write system calls
 * (`syscw`, SQLite's page writes among them) and bytes handed to them (`wchar`). Under
 * `wrangler dev` they run on the thread that runs the Worker and its objects, so a
 * decision's writes cost throughput beyond what its CPU time shows. Zeros where the
 * counters cannot be read (not Linux, or another user's processes).
 */
export function treeWrites(rootPid) {
  const result = { calls: 0, bytes: 0 };
  for (const p of tree(rootPid)) {
    if (!p.comm.startsWith("workerd")) continue;
    try {
      const io = readFileSync(`/proc/${p.pid}/io`, "utf8");
      result.calls += Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? 0);
      result.bytes += Number(/^wchar: (\d+)$/m.exec(io)?.[1] ?? 0);
    } catch {
      // gone meanwhile, or not readable
    }
  }
  return result;
}

/**
 * Waits until the tree's workerd CPU use falls below `idleShare` of one core over
 * `intervalMs` (work a request left behind, such as an alarm that delivers receipts
 * to the analysis plane, is billed too), or `maxMs` passes. Answers the time waited.
 */
export async function settle(rootPid, { idleShare = 0.03, intervalMs = 250, maxMs = 15_000 } = {}) {
  const started = performance.now();
  let before = treeCpu(rootPid).workerdMs;
  while (performance.now() - started < maxMs) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    const now = treeCpu(rootPid).workerdMs;
    if (now - before <= idleShare * intervalMs) break;
    before = now;
  }
  return performance.now() - started;
}
