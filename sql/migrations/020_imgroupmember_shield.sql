-- 020: a member's group shield status in MySQL.
--
-- TeamTalk keeps whether a member shielded a group's push notifications only in Redis
-- (group_set_<gid>, field <uid>_1): a flushed Redis loses it. The group plugin keeps it in
-- IMGroupMember.shield (0 push, 1 shielded) and writes the reference key after every change.
-- Existing Redis values are not copied: see plugins/group/README.md for a one-off import.
--
-- Idempotent and portable: the column is added only when information_schema does not list it.

SET @imgate_ddl := IF(
  (SELECT COUNT(*) FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'IMGroupMember' AND COLUMN_NAME = 'shield') = 0,
  'ALTER TABLE `IMGroupMember` ADD COLUMN `shield` tinyint(1) unsigned NOT NULL DEFAULT 0 COMMENT ''0 push, 1 shielded'' AFTER `status`',
  'DO 0');
PREPARE imgate_stmt FROM @imgate_ddl;
EXECUTE imgate_stmt;
DEALLOCATE PREPARE imgate_stmt;
