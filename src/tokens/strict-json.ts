/**
 * Whether a JSON text repeats a member name within one object. `JSON.parse`
 * keeps the last of two `"iss"` members silently, so a token could say one thing
 * to Baton and another to a parser that keeps the first (RFC 7515 §4, RFC 8725
 * §3.11: reject duplicate names). No library exposes this, so it is scanned here:
 * a single pass over the text that tracks, per open object, the names seen
 * (compared after unescaping, so `"i\u0073s"` is `"iss"`). Iterative, and it
 * assumes the text already is valid JSON (it runs after `JSON.parse` succeeded).
 */
const [OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET, COMMA, QUOTE, BACKSLASH] = [..."{}[],\"\\"].map((c) => c.charCodeAt(0));

export function hasDuplicateMembers(text: string): boolean {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === OPEN_BRACE) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === OPEN_BRACKET) {
      stack.push(null);
      expectKey = false;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = stack.at(-1) instanceof Set;
    } else if (c === QUOTE) {
      let j = i + 1;
      let escaped = false;
      for (let d = text.charCodeAt(j); j < text.length && d !== QUOTE; d = text.charCodeAt(j)) {
        if (d === BACKSLASH) {
          escaped = true;
          j += 2;
        } else j++;
      }
      if (expectKey) {
        // Only a name with an escape needs decoding; most are their own text.
        const name = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
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
