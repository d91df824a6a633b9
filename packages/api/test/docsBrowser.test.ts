import { accessSync, constants } from "node:fs";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appRouter } from "../src/root.ts";
import { procedureTable } from "../src/trpcInternals.ts";
import { INSTRUCTOR_ID, useApiWithLearner } from "./harness.ts";

/** A real headless Chromium from the system (no browser download): CHROMIUM_PATH, or the usual install paths. */
function findChromium(): string | undefined {
  const candidates = [
    process.env.CHROMIUM_PATH,
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
  ];
  return candidates.find((path): path is string => {
    if (!path) return false;
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const chromium = findChromium();
if (!chromium)
  console.warn("docsBrowser.test.ts: skipped, no chromium binary found (set CHROMIUM_PATH or install chromium)");

// bench.* is served (and documented) only in bench mode, which this API is not in.
const PATHS = [...procedureTable(appRouter).keys()]
  .filter((path) => !path.startsWith("bench."))
  .map((path) => `/${path.replace(".", "/")}`);

const fixture = useApiWithLearner();
let browser: Browser | undefined;
let page: Page;
const offOrigin: string[] = [];

describe.skipIf(!chromium)("the /docs page in headless Chromium", () => {
  beforeAll(async () => {
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    page = await browser.newPage();
    page.on("request", (request) => {
      const url = request.url();
      if (!url.startsWith(fixture.api.url) && !url.startsWith("data:")) offOrigin.push(url);
    });
    await page.goto(`${fixture.api.url}/docs`, { waitUntil: "networkidle0" });
    await page.waitForSelector(".opblock");
  }, 60_000);
  afterAll(() => browser?.close());

  it("lists every procedure of the router", async () => {
    const listed = await page.$$eval(".opblock-summary-path", (nodes) => nodes.map((n) => n.getAttribute("data-path")));
    expect(listed.sort()).toEqual([...PATHS].sort());
  });

  it("tries progression.get with a bearer token and gets 200 from the running API", async () => {
    const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
    await page.click(".btn.authorize");
    await page.waitForSelector(".auth-container input");
    // The dialog says where a token comes from (regression: it said only "Value:").
    expect(await page.$eval(".auth-container", (n) => n.textContent ?? "")).toContain("start banner");
    await page.type(".auth-container input", token);
    await page.click(".auth-btn-wrapper .authorize");
    await page.click(".auth-btn-wrapper .btn-done");

    const scope = '.opblock-get:has(.opblock-summary-path[data-path="/progression/get"])';
    await page.click(`${scope} .opblock-summary-path`);
    const tryOut = await page.waitForSelector(`${scope} .try-out__btn`);
    await tryOut?.click();
    // The field is prefilled with the demo learner's id; select it so typing replaces it.
    await page.click(`${scope} tr[data-param-name="userId"] input`, { count: 3 });
    await page.type(`${scope} tr[data-param-name="userId"] input`, String(fixture.learner));
    // Specializations are data now (any track in the catalogue): a text field, prefilled with the example.
    await page.click(`${scope} tr[data-param-name="specialization"] input`, { count: 3 });
    await page.type(`${scope} tr[data-param-name="specialization"] input`, "PLAYER");
    await page.click(`${scope} .execute`);
    await page.waitForSelector(`${scope} .live-responses-table tbody .response-col_status`, { timeout: 15_000 });
    const status = await page.$eval(`${scope} .live-responses-table tbody .response-col_status`, (n) =>
      n.textContent?.trim(),
    );
    expect(status).toBe("200");
    const body = await page.$eval(
      `${scope} .live-responses-table tbody .response-col_description pre`,
      (n) => n.textContent ?? "",
    );
    expect(JSON.parse(body)).toMatchObject({
      userId: fixture.learner,
      specialization: "PLAYER",
      progress: { currentLevel: 1 },
    });
  });

  it("prefills levelUp's try-out body with the harmless example: the demo learner, 150 XP, key example-key-1", async () => {
    const scope = '.opblock-post:has(.opblock-summary-path[data-path="/progression/levelUp"])';
    await page.click(`${scope} .opblock-summary-path`);
    const tryOut = await page.waitForSelector(`${scope} .try-out__btn`);
    await tryOut?.click();
    const body = await page.waitForSelector(`${scope} textarea.body-param__text`);
    const text = (await body?.evaluate((n) => (n as unknown as { value: string }).value)) ?? "";
    expect(JSON.parse(text)).toEqual({
      userId: 3,
      specialization: "PLAYER",
      xpGained: 150,
      sessionsCompleted: 1,
      idempotencyKey: "example-key-1",
    });
  });

  it("loaded nothing from another origin", () => {
    expect(offOrigin).toEqual([]);
  });
});
