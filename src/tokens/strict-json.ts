/**
 * Whether a JSON text repeats a member name within one object. `JSON.parse`
 * keeps the last of two `"iss"` members silently, so a token could say one thing
 * to Baton and another to a parser that keeps the first (RFC 7515 §4, RFC 8725
 * §3.11: reject duplicate names). No library exposes this, so it is scanned here:
 * a single pass over the text that tracks, per open object, the names seen
 * (compared after unescaping, so `"i\u0073s"` is `"iss"`). Iterative, and it
 * assumes the text already is valid JSON (it runs after `JSON.parse` succeeded).
 */
export function hasDuplicateMembers(text: string): boolean {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      stack.push(null);
      expectKey = false;
    } else if (c === "}" || c === "]") {
      stack.pop();
      expectKey = false;
    } else if (c === ",") {
      expectKey = stack.at(-1) instanceof Set;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (expectKey) {
        const name = JSON.parse(text.slice(i, j + 1)) as string;
        const seen = stack.at(-1);
        if (seen?.has(name)) return true;
        seen?.add(name);
        expectKey = false;
      }
      i = j;
    }
  }
  return false;
}
