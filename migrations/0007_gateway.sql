CREATE TABLE `access_service_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`client_id` text NOT NULL,
	`client_secret_hash` text NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`last_seen_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `access_service_tokens_client_id` ON `access_service_tokens` (`client_id`);--> statement-breakpoint
CREATE TABLE `gateway_devices` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`name` text NOT NULL,
	`token_hash` text NOT NULL,
	`session_id` text NOT NULL,
	`enrolled_by` text NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`revoked_at` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `gateway_devices_token_hash` ON `gateway_devices` (`token_hash`);--> statement-breakpoint
CREATE INDEX `gateway_devices_user` ON `gateway_devices` (`user_id`);--> statement-breakpoint
CREATE TABLE `gateway_dns_log` (
	`id` text PRIMARY KEY NOT NULL,
	`at` text NOT NULL,
	`user_id` text,
	`device_id` text,
	`query_name` text NOT NULL,
	`query_type` text NOT NULL,
	`decision` text NOT NULL,
	`rule_id` text
);
--> statement-breakpoint
CREATE INDEX `gateway_dns_log_at` ON `gateway_dns_log` (`at`);--> statement-breakpoint
CREATE INDEX `gateway_dns_log_user_at` ON `gateway_dns_log` (`user_id`,`at`);--> statement-breakpoint
CREATE INDEX `gateway_dns_log_device_at` ON `gateway_dns_log` (`device_id`,`at`);--> statement-breakpoint
CREATE TABLE `gateway_rules` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`action` text NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`precedence` integer NOT NULL,
	`filters` text NOT NULL,
	`traffic` text DEFAULT '' NOT NULL,
	`identity` text DEFAULT '' NOT NULL,
	`rule_settings` text DEFAULT '{}' NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `gateway_rules_precedence` ON `gateway_rules` (`precedence`);