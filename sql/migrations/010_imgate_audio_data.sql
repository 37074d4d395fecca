-- 010: the bytes of audio messages, for the message plugin.
--
-- The reference uploads audio to its file server (msfs) and keeps only the IMAudio row, whose id
-- is the message content. imgate keeps the bytes in MySQL instead, keyed by that same IMAudio id
-- and written in the same transaction as the message row: an acknowledged audio message is then
-- as durable as a text one, every node reads it without a shared file system, and replication and
-- backups carry it with the rest. IMAudio itself keeps the reference's columns (path stays '').
CREATE TABLE IF NOT EXISTS `imgate_audio_data` (
  `id` int(11) unsigned NOT NULL COMMENT 'IMAudio.id',
  `data` mediumblob NOT NULL COMMENT 'the audio bytes, without the 4-byte duration',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
