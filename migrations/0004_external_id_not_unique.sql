DROP INDEX `users_idp_external_id`;--> statement-breakpoint
CREATE INDEX `users_idp_external_id` ON `users` (`idp_id`,`external_id`);--> statement-breakpoint
DROP INDEX `groups_idp_external_id`;--> statement-breakpoint
CREATE INDEX `groups_idp_external_id` ON `groups` (`idp_id`,`external_id`);