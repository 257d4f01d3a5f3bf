CREATE TABLE `access_apps` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`domain` text NOT NULL,
	`host` text NOT NULL,
	`path_prefix` text DEFAULT '' NOT NULL,
	`type` text DEFAULT 'self_hosted' NOT NULL,
	`aud` text NOT NULL,
	`allowed_idps` text DEFAULT '[]' NOT NULL,
	`session_duration` text DEFAULT '24h' NOT NULL,
	`origin` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `access_apps_aud` ON `access_apps` (`aud`);--> statement-breakpoint
CREATE UNIQUE INDEX `access_apps_host_path` ON `access_apps` (`host`,`path_prefix`);--> statement-breakpoint
CREATE TABLE `access_groups` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`include` text DEFAULT '[]' NOT NULL,
	`exclude` text DEFAULT '[]' NOT NULL,
	`require` text DEFAULT '[]' NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `access_groups_name` ON `access_groups` (`name`);--> statement-breakpoint
CREATE TABLE `access_policies` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`name` text NOT NULL,
	`decision` text NOT NULL,
	`include` text DEFAULT '[]' NOT NULL,
	`exclude` text DEFAULT '[]' NOT NULL,
	`require` text DEFAULT '[]' NOT NULL,
	`precedence` integer NOT NULL,
	`session_duration` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`app_id`) REFERENCES `access_apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `access_policies_app_precedence` ON `access_policies` (`app_id`,`precedence`);--> statement-breakpoint
CREATE TABLE `access_settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `access_signing_keys` (
	`kid` text PRIMARY KEY NOT NULL,
	`public_jwk` text NOT NULL,
	`private_jwk_ciphertext` text NOT NULL,
	`cert_pem` text NOT NULL,
	`created_at` text NOT NULL,
	`rotated_at` text,
	`retire_after` text
);
--> statement-breakpoint
CREATE INDEX `access_signing_keys_created` ON `access_signing_keys` (`created_at`);--> statement-breakpoint
ALTER TABLE `identity_providers` ADD `client_secret_ciphertext` text;