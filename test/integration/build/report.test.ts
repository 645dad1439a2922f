/**
 * Build reports and history through bin/kiln: a multi-stage, two-platform build prints why each
 * step ran (`#N cache miss: …`), writes the reason into --metadata-file, lands in `kiln history`,
 * and its `--report` page, opened in headless Chromium, draws the steps and the layers (with the
 * bytes a layer wasted by deleting a lower layer's file) without a script error or a fetch.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kiln, makeContext, openSuite, type Suite, scratch } from './helpers.ts';

let suite: Suite;
before(async () => {
  suite = await openSuite('report');
});
after(() => suite.close());

const DOCKERFILE = `FROM busybox AS build
RUN head -c 300000 /dev/zero > /blob && echo built > /out.txt
COPY app.txt /app.txt
FROM busybox
COPY --from=build /out.txt /out.txt
RUN head -c 200000 /dev/zero > /tmp/big
RUN rm /tmp/big && echo done > /done
`;

/** Chromium, headless, on a local file: the page's DOM after its scripts ran, and its console. */
function chromium(args: string[], file: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--enable-logging=stderr',
      '--v=0',
      '--virtual-time-budget=3000',
      ...args,
      `file://${file}`,
    ],
    { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('build reports', () => {
  let ctx: string;
  let out: string;
  let buildId: string;

  before(async () => {
    ctx = await makeContext(suite, { Dockerfile: DOCKERFILE, 'app.txt': 'one\n' });
    out = await scratch(suite, 'report');
  });

  it('a multi-platform build prints why each step ran and writes it to the metadata file', () => {
    const r = kiln(suite, [
      'build',
      '--progress=plain',
      '--platform=linux/amd64,linux/arm64',
      '--metadata-file',
      join(out, 'meta.json'),
      '--report',
      join(out, 'report.html'),
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /#\d+ cache miss: no earlier record of this step\n/);
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'));
    buildId = meta['kiln.build.ref'];
    assert.match(buildId, /^[0-9a-f]{24}$/);
    const runs = meta['kiln.cache'].filter((s: { step: string }) => s.step.includes('RUN rm /tmp/big'));
    assert.equal(runs.length, 2, 'one per platform');
    for (const s of runs)
      assert.deepEqual(s, { step: s.step, cached: false, reason: 'no earlier record of this step' });
  });

  it('a rebuild after one edit: the COPY says which file, steps that did not run say nothing', () => {
    const edit = spawnSync('sh', ['-c', `echo two > ${join(ctx, 'app.txt')}`]);
    assert.equal(edit.status, 0);
    const r = kiln(suite, [
      'build',
      '--progress=plain',
      '--platform=linux/amd64,linux/arm64',
      '--report',
      join(out, 'rebuild.html'),
      ctx,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /#\d+ \[linux\/amd64 build 3\/3\] COPY app\.txt \/app\.txt\n(#\d+ .*\n)*#\d+ cache miss: 1 file changed: app\.txt \(content\)\n/,
    );
    // The final stage copies /out.txt from the build stage, which the edit left as it was: keyed
    // by what it copies (as BuildKit keys it), it and what follows stay cached.
    assert.match(
      r.err,
      /#\d+ \[linux\/amd64 stage-1 2\/4\] COPY --from=build \/out\.txt \/out\.txt\n#\d+ CACHED\n/,
    );
    assert.equal((r.err.match(/cache miss/g) ?? []).length, 2, r.err);
    // The build stage's RUN was a hit: CACHED, and no explanation under it.
    assert.match(
      r.err,
      /#\d+ \[linux\/arm64 build 2\/3\] RUN head -c 300000 \/dev\/zero > \/blob && echo built > \/out\.txt\n#\d+ CACHED\n/,
    );
  });

  it('kiln history lists both builds; inspect shows the steps and the reason', () => {
    const ls = kiln(suite, ['history']);
    assert.equal(ls.code, 0, ls.err);
    const lines = ls.out.trim().split('\n');
    assert.match(lines[0], /^BUILD ID\s+CREATED\s+CONTEXT\s+TARGET\s+DURATION\s+RESULT\s+CACHED$/);
    assert.equal(lines.length, 3);
    assert.match(lines[2], new RegExp(`^${buildId.slice(0, 12)}\\s.*\\sok\\s+0% \\(0/\\d+\\)$`));
    assert.match(lines[1], /\sok\s+\d+% \(\d+\/\d+\)$/);
    const inspect = kiln(suite, ['history', 'inspect', lines[1].split(/\s+/)[0]]);
    assert.equal(inspect.code, 0, inspect.err);
    assert.match(
      inspect.out,
      /COPY app\.txt \/app\.txt .*\n\s+cache miss: 1 file changed: app\.txt \(content\)/,
    );
    const json = kiln(suite, ['history', 'ls', '--format', 'json']);
    assert.equal(json.code, 0, json.err);
    assert.deepEqual(
      JSON.parse(json.out).map((b: { result: string; platforms: string[] }) => [
        b.result,
        b.platforms.length,
      ]),
      [
        ['ok', 2],
        ['ok', 2],
      ],
    );
    const bogus = kiln(suite, ['history', '--format', 'yaml']);
    assert.equal(bogus.code, 1);
    assert.match(bogus.err, /unknown --format "yaml"/);
    const missing = kiln(suite, ['history', 'inspect', 'ffffffffffff']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no build "ffffffffffff" in the build history/);
  });

  it('kiln report writes the same build as JSON: steps, critical path, layers of both platforms, wasted bytes', () => {
    const r = kiln(suite, ['report', buildId, '-o', join(out, 'report.json')]);
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(rep.kind, 'kiln-build-report');
    assert.deepEqual(rep.images.map((i: { platform: string }) => i.platform).sort(), [
      'linux/amd64',
      'linux/arm64',
    ]);
    assert.ok(rep.steps.some((s: { critical: boolean; kind: string }) => s.critical && s.kind === 'step'));
    assert.ok(rep.steps.some((s: { kind: string }) => s.kind === 'export'));
    for (const img of rep.images) {
      const rm = img.layers.find((l: { createdBy?: string }) => l.createdBy?.includes('rm /tmp/big'));
      assert.ok(rm, 'the rm layer');
      assert.deepEqual(rm.deleted, [{ path: 'tmp/big', size: 200000, layer: img.layers.length - 2 }]);
      assert.equal(rm.wasted, 200000);
      const big = img.layers.find((l: { createdBy?: string }) => l.createdBy?.includes('head -c 200000'));
      assert.deepEqual(big.largest[0], { path: 'tmp/big', size: 200000 });
    }
    assert.equal(rep.totals.wastedBytes, 400000);
  });

  it('the HTML report opens in headless Chromium: steps and layers drawn, no script error, no fetch', () => {
    const file = join(out, 'report.html');
    const html = readFileSync(file, 'utf8');
    assert.doesNotMatch(html, /(src|href)=["']https?:/, 'nothing loads from the network');
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    const dom = chromium(['--dump-dom'], file);
    assert.equal(dom.code, 0, dom.err);
    assert.match(dom.out, /<body data-rendered="true">/);
    assert.ok((dom.out.match(/class="step-row"/g) ?? []).length >= 10, 'step rows');
    assert.ok((dom.out.match(/class="layer-row"/g) ?? []).length >= 6, 'layer rows for two platforms');
    assert.match(dom.out, /RUN rm \/tmp\/big &amp;&amp; echo done &gt; \/done/);
    assert.match(dom.out, /no earlier record of this step/);
    assert.match(dom.out, /tmp\/big 200.00kB \(layer \d\)/);
    assert.match(dom.out, /<svg [^>]*aria-label="build timeline"/);
    // Chromium logs every console message of the page (an uncaught error is one) to stderr, and
    // a fetch the page's policy refused as `Refused to …`.
    assert.doesNotMatch(dom.err, /:CONSOLE:|Uncaught|Refused to/);
    // The rebuild's page: hits with the build they came from, misses with their reasons.
    const again = join(out, 'rebuild.html');
    const dom2 = chromium(['--dump-dom'], again);
    assert.equal(dom2.code, 0, dom2.err);
    assert.doesNotMatch(dom2.err, /:CONSOLE:|Uncaught|Refused to/);
    assert.match(dom2.out, /<td class="hit">CACHED<\/td>/);
    assert.match(dom2.out, new RegExp(`from build ${buildId.slice(0, 12)} \\(`));
    assert.match(dom2.out, /1 file changed: app\.txt \(content\)/);
    const png = join(out, 'report.png');
    const shot = chromium([`--screenshot=${png}`, '--window-size=1280,2400', '--hide-scrollbars'], again);
    assert.equal(shot.code, 0, shot.err);
    assert.ok(statSync(png).size > 20_000, 'a screenshot with something drawn');
    if (process.env.KILN_REPORT_SCREENSHOT) {
      mkdirSync(join(process.env.KILN_REPORT_SCREENSHOT, '..'), { recursive: true });
      copyFileSync(png, process.env.KILN_REPORT_SCREENSHOT);
    }
  });

  it('a failed build still gets its report, saying which step failed', async () => {
    const bad = await makeContext(suite, { Dockerfile: 'FROM busybox\nRUN echo going && exit 3\n' });
    const r = kiln(suite, ['build', '--progress=plain', '--report', join(out, 'failed.json'), bad]);
    assert.notEqual(r.code, 0);
    const rep = JSON.parse(readFileSync(join(out, 'failed.json'), 'utf8'));
    assert.equal(rep.build.result, 'error');
    const step = rep.steps.find((s: { name: string }) => s.name.includes('exit 3'));
    assert.match(step.error, /exited with code 3/);
    assert.equal(step.reason, 'no earlier record of this step');
  });

  it('--explain: each cached step says which build made it, above its CACHED line', () => {
    const r = kiln(suite, ['build', '--progress=plain', '--explain', '--platform=linux/amd64', ctx]);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.err, /cache miss/);
    const hits = r.err.match(/#\d+ cache hit: made by build [0-9a-f]{12} at \S+\n#\d+ CACHED\n/g) ?? [];
    assert.equal(hits.length, 6, r.err);
  });

  it('names from the build are text in the page: a hostile file name and step run no script', async () => {
    const evil = '<img src=x onerror=console.error(1)>.txt';
    const hostile = await makeContext(suite, {
      Dockerfile: `FROM busybox\nCOPY . /c/\nRUN echo '</script><script>console.error(2)</script>' > /s\n`,
      [evil]: 'x'.repeat(5000),
    });
    const r = kiln(suite, ['build', '-q', '--report', join(out, 'hostile.html'), hostile]);
    assert.equal(r.code, 0, r.err);
    const dom = chromium(['--dump-dom'], join(out, 'hostile.html'));
    assert.equal(dom.code, 0, dom.err);
    assert.match(dom.out, /<body data-rendered="true">/);
    assert.ok(
      dom.out.includes('c/&lt;img src=x onerror=console.error(1)&gt;.txt 5.00kB'),
      'the file name as text',
    );
    assert.ok(
      dom.out.includes("RUN echo '&lt;/script&gt;&lt;script&gt;console.error(2)&lt;/script&gt;' &gt; /s"),
    );
    assert.doesNotMatch(dom.err, /:CONSOLE:|Uncaught|Refused to/);
  });
});
