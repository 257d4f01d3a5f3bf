CREATE TABLE `directory_counts` (
	`idp_id` text PRIMARY KEY NOT NULL,
	`users` integer DEFAULT 0 NOT NULL,
	`groups` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`idp_id`) REFERENCES `identity_providers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `directory_counts` (`idp_id`, `users`, `groups`)
SELECT ip.id, (SELECT count(*) FROM users u WHERE u.idp_id = ip.id), (SELECT count(*) FROM groups g WHERE g.idp_id = ip.id) FROM identity_providers ip;
--> statement-breakpoint
CREATE TRIGGER `directory_counts_idp_insert` AFTER INSERT ON `identity_providers` BEGIN
  INSERT INTO directory_counts (idp_id, users, groups) VALUES (NEW.id, 0, 0) ON CONFLICT (idp_id) DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `directory_counts_user_insert` AFTER INSERT ON `users` BEGIN
  UPDATE directory_counts SET users = users + 1 WHERE idp_id = NEW.idp_id;
END;
--> statement-breakpoint
CREATE TRIGGER `directory_counts_user_delete` AFTER DELETE ON `users` BEGIN
  UPDATE directory_counts SET users = users - 1 WHERE idp_id = OLD.idp_id;
END;
--> statement-breakpoint
CREATE TRIGGER `directory_counts_group_insert` AFTER INSERT ON `groups` BEGIN
  UPDATE directory_counts SET groups = groups + 1 WHERE idp_id = NEW.idp_id;
END;
--> statement-breakpoint
CREATE TRIGGER `directory_counts_group_delete` AFTER DELETE ON `groups` BEGIN
  UPDATE directory_counts SET groups = groups - 1 WHERE idp_id = OLD.idp_id;
END;
