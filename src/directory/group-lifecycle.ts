import type { DirectoryContext } from "./context";

/** Users whose membership of one group a write changed. */
export interface MembershipChange {
  groupId: string;
  added: string[];
  removed: string[];
}

/** Side effects of membership changes on sessions (groups_version, identity_update_behavior). */
export const groupLifecycle = {
  async afterMembershipChange(_ctx: DirectoryContext, _change: MembershipChange): Promise<void> {},
};
