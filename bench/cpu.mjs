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

/** CPU milliseconds used so far by the process tree under `rootPid`, split into workerd and the rest (wrangler, npx). */
export function treeCpu(rootPid) {
  const all = processes();
  const children = new Map();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const result = { workerdMs: 0, otherMs: 0 };
  const stack = [...(children.get(rootPid) ?? []), ...all.filter((p) => p.pid === rootPid)];
  const seen = new Set();
  while (stack.length > 0) {
    const p = stack.pop();
    if (seen.has(p.pid)) continue;
    seen.add(p.pid);
    if (p.comm.startsWith("workerd")) result.workerdMs += p.ms;
    else result.otherMs += p.ms;
    stack.push(...(children.get(p.pid) ?? []));
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
