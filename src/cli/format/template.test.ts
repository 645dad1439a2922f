import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRows, templateText } from './format.ts';
import { parseTemplate, strictContext } from './template.ts';

const run = (t: string, data: unknown) => parseTemplate(t).execute(data);
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'no error';
};

const inspect = {
  Id: 'sha256:abc',
  RepoTags: ['app:1', 'app:latest'],
  Size: 4261550,
  Config: { Env: ['PATH=/bin', 'A=1'], Labels: { b: '2', a: '1' }, Cmd: null },
};

describe('Go template subset', () => {
  it('prints fields and nested fields, and Go values as %v does', () => {
    assert.equal(run('{{.Id}} {{.Size}}', inspect), 'sha256:abc 4261550');
    assert.equal(run('{{.Config.Env}}', inspect), '[PATH=/bin A=1]');
    assert.equal(run('{{.Config.Labels}}', inspect), 'map[a:1 b:2]');
    assert.equal(run('{{.Config.Cmd}}', inspect), '<nil>');
    assert.equal(run('{{.Nope}}', inspect), '<no value>');
    assert.equal(run('{{.}}', 'x'), 'x');
  });

  it('a field a docker row does not have is an error, as on a Go struct', () => {
    assert.equal(
      code(() => run('{{.Nope}}', strictContext({ ID: 'x' }))),
      'FORMAT_FAILED',
    );
    assert.equal(
      code(() => run('{{.Size.X}}', inspect)),
      'FORMAT_FAILED',
    );
  });

  it('json, index, join, split, upper, lower, title, len', () => {
    assert.equal(run('{{json .Config.Env}}', inspect), '["PATH=/bin","A=1"]');
    assert.equal(
      run('{{json .Config}}', inspect),
      '{"Env":["PATH=/bin","A=1"],"Labels":{"b":"2","a":"1"},"Cmd":null}',
    );
    assert.equal(run('{{json .Missing}}', inspect), 'null');
    assert.equal(run('{{index .RepoTags 0}}', inspect), 'app:1');
    assert.equal(run('{{index .Config.Labels "b"}}', inspect), '2');
    assert.equal(
      code(() => run('{{index .RepoTags 5}}', inspect)),
      'FORMAT_FAILED',
    );
    assert.equal(run('{{join .RepoTags ", "}}', inspect), 'app:1, app:latest');
    assert.equal(run('{{split "a:b:c" ":"}}', {}), '[a b c]');
    assert.equal(
      run('{{upper .Id}} {{lower "AbC"}} {{title "hello world"}}', inspect),
      'SHA256:ABC abc Hello World',
    );
    assert.equal(run('{{len .RepoTags}} {{len .Config.Labels}}', inspect), '2 2');
  });

  it('json of a docker row escapes <, > and & as Go json.Marshal does; other json does not', () => {
    assert.equal(
      run('{{json .}}', strictContext({ Tag: '<none>', A: 'x&y' })),
      '{"Tag":"\\u003cnone\\u003e","A":"x\\u0026y"}',
    );
    assert.equal(run('{{json .}}', { Tag: '<none>' }), '{"Tag":"<none>"}');
  });

  it('print, println and printf', () => {
    assert.equal(run('{{println .Id .Size}}', inspect), 'sha256:abc 4261550\n');
    assert.equal(run('{{print "a" "b" 1 2}}', {}), 'ab1 2');
    assert.equal(run('{{printf "%s=%d %q" "n" 5 "x"}}', {}), 'n=5 "x"');
    assert.equal(run('{{printf "%-5s|" "ab"}}', {}), 'ab   |');
  });

  it('pipelines pass the value as the last argument; parentheses group', () => {
    assert.equal(run('{{.Id | upper}}', inspect), 'SHA256:ABC');
    assert.equal(run('{{.Id | printf "<%s>"}}', inspect), '<sha256:abc>');
    assert.equal(run('{{(index .RepoTags 1) | upper}}', inspect), 'APP:LATEST');
    assert.equal(run('{{len (index .RepoTags 1)}}', inspect), '10');
  });

  it('if, else if, else; comparisons and logic', () => {
    const t = '{{if eq .N 1}}one{{else if gt .N 5}}many{{else}}few{{end}}';
    assert.equal(run(t, { N: 1 }), 'one');
    assert.equal(run(t, { N: 9 }), 'many');
    assert.equal(run(t, { N: 3 }), 'few');
    assert.equal(run('{{if .A}}y{{else}}n{{end}}', { A: '' }), 'n');
    assert.equal(run('{{if .A}}y{{else}}n{{end}}', { A: [] }), 'n');
    assert.equal(run('{{if and .A (not .B)}}y{{end}}', { A: 1, B: 0 }), 'y');
    assert.equal(run('{{or .A .B}}', { A: '', B: 'b' }), 'b');
    assert.equal(run('{{if ne .A "x"}}y{{end}}', { A: 'z' }), 'y');
    assert.equal(run('{{if eq .A "x" "z"}}y{{end}}', { A: 'z' }), 'y');
  });

  it('range over lists and maps (sorted keys), with variables, and else', () => {
    assert.equal(run('{{range .RepoTags}}[{{.}}]{{end}}', inspect), '[app:1][app:latest]');
    assert.equal(run('{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}', inspect), '0=app:1 1=app:latest ');
    assert.equal(run('{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}', inspect), 'a:1;b:2;');
    assert.equal(run('{{range .None}}x{{else}}empty{{end}}', { None: [] }), 'empty');
    assert.equal(run('{{range .RepoTags}}{{$.Id}} {{end}}', inspect), 'sha256:abc sha256:abc ');
  });

  it('with, variables, comments and trim markers', () => {
    assert.equal(run('{{with .Config}}{{.Env}}{{end}}', inspect), '[PATH=/bin A=1]');
    assert.equal(run('{{with .Gone}}x{{else}}none{{end}}', inspect), 'none');
    assert.equal(run('{{$x := .Id}}{{$x}}', inspect), 'sha256:abc');
    assert.equal(run('a {{/* note */}}b', {}), 'a b');
    assert.equal(run('a  \n {{- .Id -}} \n  b', inspect), 'asha256:abcb');
    assert.equal(run('{{pad "x" 1 2}}|{{truncate "abcdef" 3}}', {}), ' x  |abc');
  });

  it('syntax errors are INVALID_FORMAT', () => {
    for (const bad of ['{{.A', '{{if .A}}x', '{{end}}', '{{nosuch .A}}', '{{.A | }}', '{{template "x"}}']) {
      assert.equal(
        code(() => parseTemplate(bad).execute({ A: 1 })),
        'INVALID_FORMAT',
        bad,
      );
    }
  });
});

describe('docker formats', () => {
  it('"table", "json" and escapes become what docker runs', () => {
    assert.equal(templateText('table {{.ID}}\\t{{.Size}}'), '{{.ID}}\t{{.Size}}');
    assert.equal(templateText('json'), '{{json .}}');
    assert.equal(templateText('{{.ID}}\\n'), '{{.ID}}\n');
  });

  it('a table has a header made from the column titles, aligned by the tabwriter', () => {
    const rows = [
      strictContext({ ID: 'aaaaaaaaaaaa', Size: '4.26MB' }),
      strictContext({ ID: 'b', Size: '0B' }),
    ];
    assert.equal(
      formatRows(
        'table {{.ID}}\\t{{.Size}}\\t{{upper .Nope}}',
        rows.map((r) => ({ ...r, Nope: 'x' })),
        {
          ID: 'IMAGE ID',
          Size: 'SIZE',
        },
      ),
      'IMAGE ID       SIZE      \naaaaaaaaaaaa   4.26MB    X\nb              0B        X\n',
    );
    assert.equal(formatRows('{{.ID}}', rows, {}), 'aaaaaaaaaaaa\nb\n');
    assert.equal(
      formatRows('json', rows, {}),
      '{"ID":"aaaaaaaaaaaa","Size":"4.26MB"}\n{"ID":"b","Size":"0B"}\n',
    );
    assert.equal(formatRows('table {{.ID}}', [], { ID: 'IMAGE ID' }), 'IMAGE ID\n');
  });
});
