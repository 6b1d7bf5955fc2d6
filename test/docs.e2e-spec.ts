import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The docs name files of the repository; these tests keep those names true as files move, and keep
// every file free of references to documents outside the repository or to issue numbers.

const root = new URL('..', import.meta.url).pathname;
const PATH_PREFIXES = ['src/', 'packages/', 'test/', 'bench/', 'docs/', '.ci/'];

/** The markdown files whose references are checked, relative to the root (bench/README.md once it exists). */
function markdownFiles(): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', ...docs, 'bench/README.md'].filter((file) =>
    existsSync(join(root, file)),
  );
}

/** The text outside fenced code blocks, and the fenced blocks themselves. */
function splitFences(markdown: string): { prose: string; fences: string[] } {
  const fences: string[] = [];
  const prose = markdown.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, (block) => {
    fences.push(block);
    return '';
  });
  return { prose, fences };
}

/** `src/a.ts:12`, `docs/x.md#part` and `bench/*.ts` as the path to look for: no line, no anchor, no glob tail. */
function pathToCheck(reference: string): string {
  const bare = reference.replace(/#.*$/, '').replace(/:\d+(-\d+)?$/, '');
  const glob = bare.search(/[*?[{<]/);
  return glob === -1 ? bare : bare.slice(0, bare.lastIndexOf('/', glob) + 1);
}

/** Every repository path written in backticks (and every `// path` heading a code block opens with). */
function backtickedPaths(markdown: string): string[] {
  const { prose, fences } = splitFences(markdown);
  const spans = [...prose.matchAll(/(`+)([^`]+?)\1/g)].map((match) => match[2]!.trim());
  const headings = fences
    .map((block) => /^[^\n]*\n\s*\/\/ (\S+)/.exec(block)?.[1])
    .filter((path) => path !== undefined);
  return [...spans, ...headings].filter(
    (text) => !/\s/.test(text) && PATH_PREFIXES.some((prefix) => text.startsWith(prefix)),
  );
}

/** Every relative link target (inline or reference style), resolved against the linking file's folder. */
function relativeLinks(markdown: string, file: string): string[] {
  const { prose } = splitFences(markdown.replace(/(`+)[^`]*?\1/g, ''));
  const inline = [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!);
  const defined = [...prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((match) => match[1]!);
  return [...inline, ...defined]
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('#'))
    .map((target) => relative(root, join(root, dirname(file), decodeURI(target.replace(/#.*$/, '')))));
}

describe('docs name files that exist', () => {
  const files = markdownFiles();

  it('reads the documents it should', () => {
    for (const file of ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'docs/architecture.md'])
      expect(files).toContain(file);
  });

  it.each(files)('%s: every backticked repository path exists', (file) => {
    const references = backtickedPaths(readFileSync(join(root, file), 'utf8'));
    const missing = references.filter((reference) => !existsSync(join(root, pathToCheck(reference))));
    expect(missing, `${file} names paths that are not in the working tree`).toEqual([]);
  });

  it.each(files)('%s: every relative link resolves', (file) => {
    const targets = relativeLinks(readFileSync(join(root, file), 'utf8'), file);
    const missing = targets.filter((target) => !existsSync(join(root, target)));
    expect(missing, `${file} links to files that are not in the working tree`).toEqual([]);
  });
});

describe("docs/architecture.md: the request id's life", () => {
  const markdown = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
  const start = markdown.search(/^## The request id's life\s*$/m);
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end === -1 ? undefined : end);
  // A step is a numbered item with its continuation lines.
  const steps = section.split(/^(?=\d+\. )/m).filter((chunk) => /^\d+\. /.test(chunk));

  it('is a numbered list of the steps from the first byte in to the last byte out', () => {
    expect(start).toBeGreaterThan(-1);
    expect(steps.length).toBeGreaterThanOrEqual(10);
  });

  it('names at least one existing file in each step', () => {
    const unnamed = steps
      .filter((step) => !backtickedPaths(step).some((reference) => existsSync(join(root, pathToCheck(reference)))))
      .map((step) => step.slice(0, 60));
    expect(unnamed).toEqual([]);
  });

  it('draws the layers and the cancellation path', () => {
    expect(markdown).toContain('```mermaid\nflowchart');
    expect(markdown).toContain('```mermaid\nsequenceDiagram');
  });
});

describe('no reference outside the repository', () => {
  // Built from parts so that this file does not contain what it looks for.
  const forbidden: Array<{ what: string; pattern: RegExp }> = [
    { what: 'a design document outside the repository', pattern: new RegExp(['DESIGN', '\\.md'].join('')) },
    { what: 'a shared folder beside the repository', pattern: new RegExp(['\\.\\.', '/shared'].join('')) },
    {
      what: 'an issue number',
      pattern: new RegExp(['\\bissues?', '\\s*(?:#|no\\.?|number)?\\s*', '\\d+\\b'].join(''), 'i'),
    },
    {
      what: 'a pull request or issue by number',
      pattern: new RegExp(['(?:^|[\\s(])', '#', '\\d+[)\\s,.;:]'].join(''), 'm'),
    },
  ];

  it('in any file git tracks or would add', () => {
    const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
      cwd: root,
      encoding: 'utf8',
    });
    const found: string[] = [];
    for (const file of new Set(listed.split('\0').filter((name) => name !== ''))) {
      let text: string;
      try {
        text = readFileSync(join(root, file), 'utf8');
      } catch {
        continue; // deleted or moved in the working tree
      }
      if (text.includes('\0')) continue; // binary
      text.split('\n').forEach((line, index) => {
        for (const { what, pattern } of forbidden)
          if (pattern.test(line)) found.push(`${file}:${index + 1}: ${what}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(found).toEqual([]);
  });
});
