/** placeholder */
import { KilnError } from '../../errors/errors.ts';
import type { ExecResult, Executor } from '../executor.ts';
export class ChrootExecutor implements Executor {
  constructor(_o: { stateRoot: string }) {}
  async run(): Promise<ExecResult> {
    throw new KilnError('CHROOT_UNSUPPORTED', 'not yet');
  }
}
