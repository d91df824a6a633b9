/** Progress lines on stderr while the bench runs (stdout stays free for the final path). */
export class Progress {
  readonly #started = performance.now();
  #total: number;
  readonly #estimateSeconds: number;
  #done = 0;

  constructor(total: number, estimateSeconds: number) {
    this.#total = total;
    this.#estimateSeconds = estimateSeconds;
  }

  /** One more run than planned (a disturbed run made again), so the count stays "n of total". */
  addRun(): void {
    this.#total++;
  }

  info(message: string): void {
    process.stderr.write(`[bench ${this.#clock()}] ${message}\n`);
  }

  /** Announces a run and ticks every 10 s until `work` settles. */
  async run<T>(label: string, seconds: number, work: Promise<T>): Promise<T> {
    this.#done++;
    this.info(`(${this.#done}/${this.#total}) ${label}, ~${seconds} s; about ${this.#remaining()} left in all`);
    const started = performance.now();
    const timer = setInterval(() => {
      const elapsed = Math.round((performance.now() - started) / 1000);
      process.stderr.write(`[bench ${this.#clock()}]     … ${label}: ${elapsed}/${seconds} s\n`);
    }, 10_000);
    try {
      return await work;
    } finally {
      clearInterval(timer);
    }
  }

  elapsedSeconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  #remaining(): string {
    const left = Math.max(0, this.#estimateSeconds - this.elapsedSeconds());
    return `${Math.floor(left / 60)} min ${Math.round(left % 60)} s`;
  }

  #clock(): string {
    const s = Math.round(this.elapsedSeconds());
    return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  }
}
