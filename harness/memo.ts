/**
 * Answers of a pure function kept by their key, at most `limit` of them (the oldest dropped
 * first): for work repeated with the same few inputs on a hot path, in processes that may live
 * long enough to see many different ones.
 */
export function memoized<K, V>(compute: (key: K) => V, limit: number): (key: K) => V {
  const answers = new Map<K, V>();
  return (key) => {
    if (answers.has(key)) return answers.get(key) as V;
    const value = compute(key);
    if (answers.size >= limit) answers.delete(answers.keys().next().value as K);
    answers.set(key, value);
    return value;
  };
}
