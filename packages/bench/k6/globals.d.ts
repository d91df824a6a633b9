// k6 provides console, but @types/k6 does not declare it (it expects lib "dom").
declare const console: {
  log(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
};
