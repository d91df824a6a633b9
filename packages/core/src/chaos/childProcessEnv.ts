/** The chaos CLI's environment plus `overrides`, for the processes it starts (the API, k6). */
export function childProcessEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}
