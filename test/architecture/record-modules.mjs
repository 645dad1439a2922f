// Preloaded with --import by startup.test.ts: records every module the process loads (ES imports,
// require() calls and Node built-ins alike, through module.registerHooks) and writes the list to
// KILN_TEST_MODULES when the process exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const seen = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const r = next(specifier, context);
    seen.add(r.url);
    return r;
  },
});
process.on('exit', () => writeFileSync(process.env.KILN_TEST_MODULES, [...seen].join('\n')));
