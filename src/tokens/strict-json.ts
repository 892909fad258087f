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
      // The string ends at the next quote that no backslash escapes; indexOf finds the
      // candidates far faster than a loop over every character of a long value.
      let close = text.indexOf('"', i + 1);
      while (close !== -1 && isEscaped(text, close)) close = text.indexOf('"', close + 1);
      if (close === -1) close = text.length;
      if (expectKey) {
        // Only a name with an escape needs decoding; most are their own text.
        const raw = text.slice(i + 1, close);
        const name = raw.includes("\\") ? (JSON.parse(text.slice(i, close + 1)) as string) : raw;
        const seen = stack.at(-1);
        if (seen?.has(name)) return true;
        seen?.add(name);
        expectKey = false;
      }
      i = close;
    }
  }
  return false;
}

/** Whether the character at `at` follows an odd run of backslashes (it is escaped). */
function isEscaped(text: string, at: number): boolean {
  let run = 0;
  while (text.charCodeAt(at - 1 - run) === BACKSLASH) run++;
  return run % 2 === 1;
}
