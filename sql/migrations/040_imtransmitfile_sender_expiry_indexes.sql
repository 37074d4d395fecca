-- 040: IMTransmitFile indexes for the file plugin's per-sender quota and expiry.
--
-- The quota sums a sender's waiting files (WHERE fromId = ? AND status = 0) on every offline
-- request, upload and listing; expiry looks for the oldest waiting files (WHERE status = 0 AND
-- created < ?). Without these both scan the table.
--
-- Idempotent and portable: each index is added only when information_schema does not list it yet
-- (the pattern of 001).

SET @imgate_ddl := IF(
  (SELECT COUNT(*) FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'IMTransmitFile'
      AND INDEX_NAME = 'idx_fromId_status') = 0,
  'ALTER TABLE `IMTransmitFile` ADD INDEX `idx_fromId_status` (`fromId`, `status`)',
  'DO 0');
PREPARE imgate_stmt FROM @imgate_ddl;
EXECUTE imgate_stmt;
DEALLOCATE PREPARE imgate_stmt;

SET @imgate_ddl := IF(
  (SELECT COUNT(*) FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'IMTransmitFile'
      AND INDEX_NAME = 'idx_status_created') = 0,
  'ALTER TABLE `IMTransmitFile` ADD INDEX `idx_status_created` (`status`, `created`)',
  'DO 0');
PREPARE imgate_stmt FROM @imgate_ddl;
EXECUTE imgate_stmt;
DEALLOCATE PREPARE imgate_stmt;
