import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { type Line, LineAssembler } from './lines.ts';

function assembler(opts = {}) {
  const lines: Line[] = [];
  const a = new LineAssembler((l) => lines.push(l), opts);
  return { a, texts: () => lines.map((l) => l.text), lines };
}

describe('step output assembled into lines', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  it('joins writes that split a line (npm writes `npm WARN using --force` in four pieces)', () => {
    const { a, texts } = assembler();
    for (const piece of ['npm', ' WARN', ' using --force', ' Recommended protections disabled.\n'])
      a.push('v', 'stderr', piece, 1);
    assert.deepEqual(texts(), ['npm WARN using --force Recommended protections disabled.']);
  });

  it('a newline written apart from its line ends that line and adds no empty one', () => {
    const { a, texts } = assembler();
    a.push('v', 'stdout', 'Reading package lists...', 1);
    a.push('v', 'stdout', '\n', 2);
    a.push('v', 'stdout', '\nafter\n', 3);
    assert.deepEqual(texts(), ['Reading package lists...', '', 'after']);
  });

  it('keeps the time the line began', () => {
    const { a, lines } = assembler();
    a.push('v', 'stdout', 'a', 100);
    a.push('v', 'stdout', 'b\nc', 250);
    a.push('v', 'stdout', '\n', 400);
    assert.deepEqual(
      lines.map((l) => [l.text, l.at]),
      [
        ['ab', 100],
        ['c', 250],
      ],
    );
  });

  it('\\r\\n ends a line, also split across writes; a lone \\r starts the line over', () => {
    const { a, texts } = assembler();
    a.push('v', 'stdout', 'dos line\r\nsplit crlf\r', 1);
    a.push('v', 'stdout', '\n 10%\r 50%\r100%\n', 2);
    a.push('v', 'stdout', 'meter 1%\r', 3);
    a.push('v', 'stdout', 'meter 99%\n', 4);
    assert.deepEqual(texts(), ['dos line', 'split crlf', '100%', 'meter 99%']);
  });

  it('a partial line waits for the rest of its line, and is shown after a pause', () => {
    const { a, texts } = assembler({ pauseMs: 1000 });
    a.push('v', 'stdout', 'a', 1);
    mock.timers.tick(200);
    a.push('v', 'stdout', 'b', 2);
    mock.timers.tick(900);
    assert.deepEqual(texts(), [], 'each write restarts the pause');
    a.push('v', 'stdout', 'c', 3);
    mock.timers.tick(1000);
    assert.deepEqual(texts(), ['abc']);
    // The newline that ends the shown line adds nothing; text after it is a line of its own.
    a.push('v', 'stdout', '\n', 4);
    a.push('v', 'stdout', 'Continue? ', 5);
    mock.timers.tick(1000);
    a.push('v', 'stdout', 'yes\n', 6);
    assert.deepEqual(texts(), ['abc', 'Continue? ', 'yes']);
  });

  it('what is left of a line is shown when the step ends, stdout and stderr apart', () => {
    const { a, lines } = assembler();
    a.push('v', 'stdout', 'out-part', 1);
    a.push('v', 'stderr', 'err-part', 2);
    a.push('w', 'stdout', 'other step', 3);
    a.push('v', 'stdout', ' more', 4);
    assert.equal(lines.length, 0);
    a.end('v');
    assert.deepEqual(
      lines.map((l) => [l.vertex, l.stream, l.text]),
      [
        ['v', 'stdout', 'out-part more'],
        ['v', 'stderr', 'err-part'],
      ],
    );
    mock.timers.tick(5000);
    assert.equal(lines.length, 3, 'the other step still has its pause timer');
    a.end('v');
    assert.equal(lines.length, 3, 'ending twice shows nothing more');
  });

  it('a line without end is cut into pieces of at most maxLine', () => {
    const { a, texts } = assembler({ maxLine: 4 });
    a.push('v', 'stdout', 'abcdefghij', 1);
    assert.deepEqual(texts(), ['abcd', 'efgh']);
    a.end('v');
    assert.deepEqual(texts(), ['abcd', 'efgh', 'ij']);
  });
});
