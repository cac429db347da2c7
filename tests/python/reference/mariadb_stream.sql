-- Streaming changes after the snapshot (MariaDB reference): c (3 rows, one transaction), u, d.
SET SESSION sql_mode = '';
SET SESSION time_zone = '+00:00';
BEGIN;
INSERT INTO alltypes SELECT id + 10, c_tinyint, c_tinyint_u, c_smallint, c_smallint_u, c_mediumint, c_mediumint_u, c_int, c_int_u, c_bigint, c_bigint_u, c_decimal, c_float, c_double, c_bit1, c_bit10, c_bit64, c_year, c_date, c_time, c_time0, c_datetime0, c_datetime3, c_datetime6, c_timestamp, c_char, c_varchar, c_text, c_latin1, c_binary, c_varbinary, c_blob, c_enum, c_set, c_json, c_geom, c_not_null FROM alltypes ORDER BY id;
COMMIT;
UPDATE alltypes SET c_text = 'updated', c_json = '{"u": 1}' WHERE id = 1;
DELETE FROM alltypes WHERE id = 13;
