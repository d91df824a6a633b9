/**
 * The load side of levelUpCpu.ts, in a process of its own: `concurrency`
 * keep-alive clients, each sending level-ups for its own learner one after
 * another until `calls` are done. Answers with latency percentiles over IPC.
 */
import { Agent } from "node:http";
import { keepAlivePost } from "./keepAlivePost.ts";

interface Job {
  url: string;
  token: string;
  learners: number[];
  calls: number;
  concurrency: number;
}

process.once("message", (job: Job) => {
  void run(job).then((result) => process.send?.(result, () => process.exit(0)));
});

async function run(job: Job) {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const target = new URL(`${job.url}/trpc/progression.levelUp`);
  const samples: number[] = [];
  let left = job.calls;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: job.concurrency }, async (_, i) => {
      const body = JSON.stringify({
        userId: job.learners[i % job.learners.length],
        specialization: "PLAYER",
        xpGained: 1,
        sessionsCompleted: 1,
      });
      while (left-- > 0) {
        const t = performance.now();
        await keepAlivePost(target, body, job.token, agent);
        samples.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), rate: samples.length / seconds };
}
