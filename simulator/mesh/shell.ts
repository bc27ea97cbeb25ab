/**
 * Word splitting for `sh -c` scripts: quotes and backslashes as POSIX sh reads them,
 * and the list operators `;`, `&&`, `||`. Pipes, redirections and expansions are
 * refused rather than misread.
 */

/** One simple command of a list and the condition it runs under. */
export interface ShellStep {
  argv: string[];
  when: 'always' | 'and' | 'or';
}

export function splitShellCommand(script: string): { steps: ShellStep[] } | { error: string } {
  const steps: ShellStep[] = [];
  let argv: string[] = [];
  let word: string | undefined;
  let when: ShellStep['when'] = 'always';
  const endWord = (): void => {
    if (word !== undefined) argv.push(word);
    word = undefined;
  };
  const endCommand = (next: ShellStep['when']): string | undefined => {
    endWord();
    if (argv.length === 0) return 'syntax error: empty command';
    steps.push({ argv, when });
    argv = [];
    when = next;
    return undefined;
  };
  for (let i = 0; i < script.length; i++) {
    const ch = script[i] ?? '';
    if (ch === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) return { error: 'syntax error: unterminated quoted string' };
      word = (word ?? '') + script.slice(i + 1, end);
      i = end;
    } else if (ch === '"') {
      let j = i + 1;
      let value = '';
      while (j < script.length && script[j] !== '"') {
        if (script[j] === '\\' && j + 1 < script.length && '"\\$`'.includes(script[j + 1] ?? ''))
          j++;
        else if (script[j] === '$' || script[j] === '`')
          return { error: 'expansions are not supported by the simulated cluster' };
        value += script[j] ?? '';
        j++;
      }
      if (j >= script.length) return { error: 'syntax error: unterminated quoted string' };
      word = (word ?? '') + value;
      i = j;
    } else if (ch === '\\') {
      word = (word ?? '') + (script[i + 1] ?? '');
      i++;
    } else if (/\s/.test(ch)) {
      endWord();
    } else if (ch === ';') {
      const error = endCommand('always');
      if (error) return { error };
    } else if (ch === '&' && script[i + 1] === '&') {
      const error = endCommand('and');
      if (error) return { error };
      i++;
    } else if (ch === '|' && script[i + 1] === '|') {
      const error = endCommand('or');
      if (error) return { error };
      i++;
    } else if ('|&<>$`()'.includes(ch)) {
      return { error: `'${ch}' is not supported by the simulated cluster` };
    } else {
      word = (word ?? '') + ch;
    }
  }
  endWord();
  if (argv.length > 0) steps.push({ argv, when });
  if (steps.length === 0) return { error: 'syntax error: empty command' };
  return { steps };
}
