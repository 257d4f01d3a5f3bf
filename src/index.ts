import { app } from "./app";

export { UserSessions } from "./sessions/user-sessions";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
