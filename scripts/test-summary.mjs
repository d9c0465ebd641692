// A node:test reporter for scripts/test.sh: beside the spec reporter's output, writes a short
// summary of the integration tests (counts, and each failed test by file and name) for the
// summary that `make test` prints last.
//
//   node --test --test-reporter=spec --test-reporter-destination=stdout \
//       --test-reporter=./scripts/test-summary.mjs --test-reporter-destination=FILE 'tests/*.test.mjs'
import { relative } from 'node:path';

export default async function* summary(source) {
  const counts = { passed: 0, failed: 0, cancelled: 0, skipped: 0, todo: 0 };
  const failed = [];
  const files = new Set();
  // Names of the enclosing suites, by nesting level (files run one after another).
  const suites = [];
  for await (const { type, data } of source) {
    if (type === 'test:start') {
      suites[data.nesting] = data.name;
      suites.length = data.nesting + 1;
      continue;
    }
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    const { name, nesting, file, details } = data;
    if (file) files.add(file);
    const where = `${file ? relative(process.cwd(), file) : '?'}: ${[...suites.slice(0, nesting), name].join(' › ')}`;
    const failureType = details?.error?.failureType;
    if (details?.type === 'suite') {
      // A suite counts through its tests; listed only when it failed on its own (a hook).
      if (type === 'test:fail' && failureType !== 'subtestsFailed') failed.push(`${where}: ${details.error?.message}`);
    } else if (data.skip !== undefined) {
      counts.skipped += 1;
    } else if (data.todo !== undefined) {
      counts.todo += 1;
    } else if (type === 'test:pass') {
      counts.passed += 1;
    } else if (failureType === 'cancelledByParent') {
      counts.cancelled += 1;
    } else {
      counts.failed += 1;
      failed.push(where);
    }
  }
  const shown = Object.entries(counts).filter(([key, n]) => n > 0 || key === 'passed' || key === 'failed');
  yield `${shown.map(([key, n]) => `${n} ${key}`).join(', ')}, in ${files.size} files\n`;
  for (const line of failed) yield `FAILED ${line}\n`;
}
