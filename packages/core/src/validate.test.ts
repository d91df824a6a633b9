import { describe, expect, it } from "vitest";
import { ValidationError } from "./errors/index.ts";
import * as inputs from "./inputs.ts";
import { parseInput, validated } from "./validate.ts";

const good = { userId: 7, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 };

describe("parseInput and validated()", () => {
  it("takes the frozen output of validated(schema) for the same schema without parsing again", () => {
    const output = validated(inputs.levelUpInput).parse(good);
    expect(Object.isFrozen(output)).toBe(true);
    let parses = 0;
    const counting = Object.assign(Object.create(inputs.levelUpInput) as typeof inputs.levelUpInput, {
      safeParse: (value: unknown) => (parses++, inputs.levelUpInput.safeParse(value)),
    });
    expect(parseInput(inputs.levelUpInput, output)).toBe(output);
    // The brand names the schema: another schema still parses.
    expect(parseInput(counting, output)).toEqual(good);
    expect(parses).toBe(1);
  });

  it("still refuses invalid input from direct callers, and parses copies of a validated output", () => {
    expect(() => parseInput(inputs.levelUpInput, { ...good, xpGained: -1 })).toThrow(ValidationError);
    const output = validated(inputs.levelUpInput).parse(good);
    expect(() => validated(inputs.levelUpInput).parse({ ...good, xpGained: -1 })).toThrow();
    const copy = { ...output, xpGained: -1 };
    expect(() => parseInput(inputs.levelUpInput, copy)).toThrow(ValidationError);
  });

  it("cannot be fooled by changing a validated output afterwards", () => {
    const output = validated(inputs.levelUpInput).parse(good) as { xpGained: number };
    expect(() => {
      output.xpGained = -1;
    }).toThrow(TypeError);
  });
});
