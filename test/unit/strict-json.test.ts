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
