import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hasDuplicateMembers } from "../../src/tokens/strict-json.js";

describe("duplicate JSON member names", () => {
  it("finds a repeated name in any object, after unescaping; not across objects or in arrays and values", () => {
    expect(hasDuplicateMembers('{"iss":"monitor","iss":"ci"}')).toBe(true);
    expect(hasDuplicateMembers('{"iss":"monitor","i\\u0073s":"ci"}')).toBe(true);
    expect(hasDuplicateMembers('{"a":{"b":1,"b":2}}')).toBe(true);
    expect(hasDuplicateMembers('{"a":[{"b":1},{"b":2}],"c":{"b":3}}')).toBe(false);
    expect(hasDuplicateMembers('{"a":"iss","b":"iss","c":["iss","iss"]}')).toBe(false);
    expect(hasDuplicateMembers('{"a":"x\\"y","b":"\\\\","a\\\\":1}')).toBe(false);
    expect(hasDuplicateMembers('[{"a":1,"a":1}]')).toBe(true);
    expect(hasDuplicateMembers("{}")).toBe(false);
  });
});

/** A JSON text built member by member, with whether some object in it repeats a name. */
type Built = { text: string; repeats: boolean };

// Names from a small alphabet, so that repeats are frequent; with quotes and backslashes, so
// that escapes are common, and written as \uXXXX at random (the same name in another spelling).
const name = fc.string({ unit: fc.constantFrom("a", "b", '"', "\\", "é", "\u0001"), maxLength: 3 });
const spelling = fc.func(fc.boolean());

function spell(text: string, escapeAt: (index: number) => boolean): string {
  const chars = [...text].map((ch, index) => (escapeAt(index) ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}` : JSON.stringify(ch).slice(1, -1)));
  return `"${chars.join("")}"`;
}

const built: fc.Arbitrary<Built> = fc.letrec<{ value: Built }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.boolean(), fc.constant(null)).map((v) => ({ text: JSON.stringify(v), repeats: false })),
    fc.array(tie("value"), { maxLength: 4 }).map((items) => ({ text: `[${items.map((i) => i.text).join(",")}]`, repeats: items.some((i) => i.repeats) })),
    fc.array(fc.tuple(name, spelling, tie("value")), { maxLength: 4 }).map((members) => {
      const names = members.map(([n]) => n);
      return {
        text: `{${members.map(([n, escapeAt, v]) => `${spell(n, (index) => escapeAt(index) as boolean)}:${v.text}`).join(",")}}`,
        repeats: new Set(names).size < names.length || members.some(([, , v]) => v.repeats),
      };
    }),
  ),
})).value;

describe("duplicate JSON member names, over random JSON", () => {
  it("says a text repeats a name exactly when one of its objects does (names compared unescaped)", () => {
    fc.assert(
      fc.property(built, ({ text, repeats }) => {
        JSON.parse(text); // the scan's precondition: valid JSON
        expect(hasDuplicateMembers(text)).toBe(repeats);
      }),
      { numRuns: 2000 },
    );
  });
});
