CREATE TABLE `identity_dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`received_at` text NOT NULL,
	`message_type` text NOT NULL,
	`user_count` integer NOT NULL,
	`body` text NOT NULL,
	`attempts` integer NOT NULL,
	`resolved_at` text
);
--> statement-breakpoint
CREATE INDEX `identity_dead_letters_received` ON `identity_dead_letters` (`received_at`);--> statement-breakpoint
CREATE TABLE `identity_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`idp_id` text,
	`payload` text DEFAULT '{}' NOT NULL,
	`created_at` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` text NOT NULL,
	`last_error` text
);
--> statement-breakpoint
CREATE INDEX `identity_outbox_next_attempt` ON `identity_outbox` (`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `identity_outbox_users` (
	`outbox_id` text NOT NULL,
	`user_id` text NOT NULL,
	PRIMARY KEY(`outbox_id`, `user_id`),
	FOREIGN KEY (`outbox_id`) REFERENCES `identity_outbox`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `users` ADD `groups_version` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `group_members` ADD `display` text;