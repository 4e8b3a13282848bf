/**
 * `make`, remembered per key (`keyOf(arg)`, the argument itself by default): for values built from
 * a small, fixed set of inputs (ref kinds, the config's category lists, keyword lists in code) that
 * cost more to build than to look up, such as zod schemas and compiled patterns. Unbounded by
 * design: never key it by anything mail chooses.
 */
export function memoize<A, V>(make: (arg: A) => V, keyOf: (arg: A) => unknown = (arg) => arg): (arg: A) => V {
  const made = new Map<unknown, V>();
  return (arg) => {
    const key = keyOf(arg);
    const known = made.get(key);
    if (known !== undefined) return known;
    const value = make(arg);
    made.set(key, value);
    return value;
  };
}
