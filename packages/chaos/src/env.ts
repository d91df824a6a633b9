/** This process's environment plus `overrides`, for child processes (the chaos suite's API and k6 runs). */
export function childProcessEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}
