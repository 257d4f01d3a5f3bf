import { DurableObject } from "cloudflare:workers";

/** The per-user session authority (DESIGN.md "The per-user Durable Object"). */
export class UserSessions extends DurableObject<Env> {}
