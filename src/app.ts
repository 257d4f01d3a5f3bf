import { Hono } from "hono";

export type AppEnv = { Bindings: Env };

/** The one Hono app: every surface is mounted here. */
export const app = new Hono<AppEnv>();

app.get("/healthz", (c) => c.json({ ok: true }));
