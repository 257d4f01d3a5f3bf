CREATE TABLE `identity_providers` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`config` text DEFAULT '{}' NOT NULL,
	`scim_enabled` integer DEFAULT true NOT NULL,
	`scim_secret_hash` text NOT NULL,
	`user_deprovision` integer DEFAULT true NOT NULL,
	`seat_deprovision` integer DEFAULT false NOT NULL,
	`identity_update_behavior` text DEFAULT 'automatic' NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `user_emails` (
	`user_id` text NOT NULL,
	`idp_id` text NOT NULL,
	`position` integer NOT NULL,
	`value` text NOT NULL,
	`value_lower` text NOT NULL,
	`type` text,
	`is_primary` integer DEFAULT false NOT NULL,
	PRIMARY KEY(`user_id`, `position`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `user_emails_idp_value` ON `user_emails` (`idp_id`,`value_lower`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`idp_id` text NOT NULL,
	`external_id` text,
	`user_name` text NOT NULL,
	`user_name_lower` text NOT NULL,
	`display_name` text,
	`given_name` text,
	`family_name` text,
	`email` text,
	`active` integer DEFAULT true NOT NULL,
	`resource` text NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`idp_id`) REFERENCES `identity_providers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_idp_user_name` ON `users` (`idp_id`,`user_name_lower`);--> statement-breakpoint
CREATE UNIQUE INDEX `users_idp_external_id` ON `users` (`idp_id`,`external_id`) WHERE external_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `users_idp_email` ON `users` (`idp_id`,`email`);--> statement-breakpoint
CREATE INDEX `users_idp_display_name` ON `users` (`idp_id`,`display_name`);--> statement-breakpoint
CREATE INDEX `users_idp_updated` ON `users` (`idp_id`,`updated_at`);--> statement-breakpoint
CREATE INDEX `users_idp_created` ON `users` (`idp_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `group_members` (
	`group_id` text NOT NULL,
	`user_id` text NOT NULL,
	PRIMARY KEY(`group_id`, `user_id`),
	FOREIGN KEY (`group_id`) REFERENCES `groups`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `group_members_user` ON `group_members` (`user_id`);--> statement-breakpoint
CREATE TABLE `groups` (
	`id` text PRIMARY KEY NOT NULL,
	`idp_id` text NOT NULL,
	`external_id` text,
	`display_name` text NOT NULL,
	`display_name_lower` text NOT NULL,
	`resource` text NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`idp_id`) REFERENCES `identity_providers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `groups_idp_display_name` ON `groups` (`idp_id`,`display_name_lower`);--> statement-breakpoint
CREATE UNIQUE INDEX `groups_idp_external_id` ON `groups` (`idp_id`,`external_id`) WHERE external_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `groups_idp_updated` ON `groups` (`idp_id`,`updated_at`);--> statement-breakpoint
CREATE INDEX `groups_idp_created` ON `groups` (`idp_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` text PRIMARY KEY NOT NULL,
	`logged_at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`target_type` text NOT NULL,
	`target_id` text,
	`details` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_log_logged_at` ON `audit_log` (`logged_at`);--> statement-breakpoint
CREATE INDEX `audit_log_target` ON `audit_log` (`target_type`,`target_id`);--> statement-breakpoint
CREATE TABLE `provisioning_log` (
	`id` text PRIMARY KEY NOT NULL,
	`logged_at` text NOT NULL,
	`idp_id` text NOT NULL,
	`request_method` text NOT NULL,
	`resource_type` text NOT NULL,
	`resource_user_email` text,
	`resource_group_name` text,
	`cf_resource_id` text,
	`idp_resource_id` text,
	`status` text NOT NULL,
	`http_status` integer NOT NULL,
	`error_description` text,
	`request_body` text
);
--> statement-breakpoint
CREATE INDEX `provisioning_log_logged_at` ON `provisioning_log` (`logged_at`);--> statement-breakpoint
CREATE INDEX `provisioning_log_idp_logged_at` ON `provisioning_log` (`idp_id`,`logged_at`);