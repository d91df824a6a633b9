/**
 * Runs one step of a cluster change (add a node, rebalance, drain, move a
 * shard) as an operator would: again after a failure, up to `attempts`
 * times, waiting 500 ms × the attempt number between tries. Each failed
 * attempt but the last is passed to `onRetry` as "name: message". Throws an
 * Error "name: message" of the last failure.
 */
export async function retryStep<T>(
  name: string,
  run: () => Promise<T>,
  options: { attempts: number; onRetry: (message: string) => void },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const message = `${name}: ${error instanceof Error ? error.message : String(error)}`;
      if (attempt >= options.attempts) throw new Error(message);
      options.onRetry(message);
      await sleep(500 * attempt);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
