import { ApiError } from '../harness/lab.js';
import { errorClass, ScenarioFailure } from './error-class.js';

/** expectFailure runs an API call that must fail with a given error class; it returns the error for evidence. */
export async function expectFailure(call: Promise<unknown>, expected: string): Promise<ApiError> {
  try {
    await call;
  } catch (error) {
    const cls = errorClass(error);
    if (cls !== expected || !(error instanceof ApiError)) {
      throw new ScenarioFailure(`expected a ${expected} failure, got ${cls}: ${(error as Error).message}`);
    }
    return error;
  }
  throw new ScenarioFailure(`expected a ${expected} failure, but the call succeeded`);
}

/** succeeds turns a call into true/false, for waits on recovery or failure. */
export const succeeds = (call: Promise<unknown>): Promise<boolean> =>
  call.then(
    () => true,
    () => false,
  );
