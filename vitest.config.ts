import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations(path.join(import.meta.dirname, "migrations")),
          ADMIN_TOKEN: "test-admin-token",
          ACCESS_SECRETS_KEY: "test-access-secrets-key-0123456789abcdef",
          DEV_ROUTES: "true",
          // The team host: app hosts send browsers here to log in (test/helpers.ts ORIGIN).
          PUBLIC_BASE_URL: "https://edge.test",
        },
      },
    })),
  ],
  test: {
    setupFiles: ["./test/setup/apply-migrations.ts"],
    include: ["test/**/*.test.ts"],
    // Property tests and 500-way concurrency tests take seconds in workerd; on a busy 2-core machine
    // the 5 s default turns load into failures. Timing is measured by bench/, never asserted here.
    testTimeout: 30_000,
  },
});
