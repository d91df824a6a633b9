import { describe, expect, it } from "vitest";
import { redactUrl } from "./redactUrl.ts";

describe("redactUrl", () => {
  it("replaces the password and keeps user, host, port, database and parameters", () => {
    expect(redactUrl("postgres://coupler:s3cr%40t@db.example:5433/app?sslmode=require")).toBe(
      "postgres://coupler:***@db.example:5433/app?sslmode=require",
    );
  });

  it("leaves a URL without a password as it is", () => {
    expect(redactUrl("postgres://coupler@127.0.0.1:5432/app")).toBe("postgres://coupler@127.0.0.1:5432/app");
  });

  it("does not echo a string it cannot parse, which may hold a secret", () => {
    expect(redactUrl("not a url with hunter2")).toBe("<unparseable URL>");
  });
});
