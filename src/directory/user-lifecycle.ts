import type { DirectoryContext } from "./context";

/** A user's state change as a directory write is about to make it. */
export interface UserTransition {
  userId: string;
  wasActive: boolean;
  isActive: boolean;
  email: string | null;
  deleted?: boolean;
}

/**
 * Side effects of user writes on sessions. `beforeWrite` runs after the new state is computed and
 * before D1 is written, so a deactivation revokes sessions first (fail closed); `afterWrite` runs
 * once D1 holds the new state.
 */
export const userLifecycle = {
  async beforeWrite(_ctx: DirectoryContext, _t: UserTransition): Promise<void> {},
  async afterWrite(_ctx: DirectoryContext, _t: UserTransition): Promise<void> {},
};
