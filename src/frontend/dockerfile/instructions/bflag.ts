/**
 * Instruction `--flags` (BuildKit instructions/bflag.go): declare bool / string / repeatable
 * string flags, then parse the node's flag words with BuildKit's error messages.
 */
import { suggest } from './suggest.ts';

type FlagType = 'bool' | 'string' | 'strings';

export class Flag {
  readonly name: string;
  readonly type: FlagType;
  /** Current value ('true'/'false' for bool flags). */
  value: string;
  /** All values of a repeatable flag. */
  values: string[] = [];

  constructor(name: string, type: FlagType, value: string) {
    this.name = name;
    this.type = type;
    this.value = value;
  }

  get isTrue(): boolean {
    return this.value === 'true';
  }
}

/** Error in a flag (the instruction layer adds the location). */
export class FlagError extends Error {}

export class BFlags {
  readonly args: readonly string[];
  private readonly flags = new Map<string, Flag>();
  private readonly used = new Map<string, Flag>();

  constructor(args: readonly string[]) {
    this.args = args;
  }

  addBool(name: string, def: boolean): Flag {
    return this.add(new Flag(name, 'bool', def ? 'true' : 'false'));
  }

  addString(name: string, def: string): Flag {
    return this.add(new Flag(name, 'string', def));
  }

  addStrings(name: string): Flag {
    return this.add(new Flag(name, 'strings', ''));
  }

  private add(f: Flag): Flag {
    if (this.flags.has(f.name)) throw new Error(`Duplicate flag defined: ${f.name}`);
    this.flags.set(f.name, f);
    return f;
  }

  isUsed(name: string): boolean {
    return this.used.has(name);
  }

  /** Names of the flags that appeared, in order of first use. */
  usedNames(): string[] {
    return [...this.used.keys()];
  }

  parse(): void {
    for (const a of this.args) {
      if (a === '--') return;
      if (!a.startsWith('--')) throw new FlagError(`arg should start with -- : ${a}`);
      const eq = a.indexOf('=');
      const hasValue = eq >= 0;
      const flagName = hasValue ? a.slice(0, eq) : a;
      const value = hasValue ? a.slice(eq + 1) : '';
      const name = flagName.slice(2);
      const flag = this.flags.get(name);
      if (!flag)
        throw new FlagError(suggest(`unknown flag: ${flagName}`, name, [...this.flags.keys()], true));
      if (this.used.has(name) && flag.type !== 'strings') {
        throw new FlagError(`duplicate flag specified: ${flagName}`);
      }
      this.used.set(name, flag);
      switch (flag.type) {
        case 'bool':
          if (hasValue && value === '') throw new FlagError(`missing a value on flag: ${flagName}`);
          switch (value.toLowerCase()) {
            case 'true':
            case '':
              flag.value = 'true';
              break;
            case 'false':
              flag.value = 'false';
              break;
            default:
              throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`);
          }
          break;
        case 'string':
          if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`);
          flag.value = value;
          break;
        case 'strings':
          if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`);
          flag.values.push(value);
          break;
      }
    }
  }
}
