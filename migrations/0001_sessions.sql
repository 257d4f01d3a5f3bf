CREATE TABLE `session_index` (
	`user_id` text NOT NULL,
	`scope` text NOT NULL,
	`last_opened_at` text NOT NULL,
	PRIMARY KEY(`user_id`, `scope`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `session_index_scope` ON `session_index` (`scope`);--> statement-breakpoint
CREATE INDEX `users_email` ON `users` (`email`);--> statement-breakpoint
CREATE INDEX `users_user_name_lower` ON `users` (`user_name_lower`);