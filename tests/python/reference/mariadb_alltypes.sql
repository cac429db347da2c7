-- The all-types table of the MariaDB Debezium reference (make_debezium_reference.py), in the
-- current database. Row 2 has zero dates (sql_mode=''), TIME beyond 24 h, BIT(64) all ones.
-- Run with a utf8mb4 client (mysql --default-character-set=utf8mb4) or 4-byte UTF-8 becomes '?'.
CREATE TABLE alltypes (
    id INT PRIMARY KEY,
    c_tinyint TINYINT, c_tinyint_u TINYINT UNSIGNED, c_smallint SMALLINT, c_smallint_u SMALLINT UNSIGNED,
    c_mediumint MEDIUMINT, c_mediumint_u MEDIUMINT UNSIGNED, c_int INT, c_int_u INT UNSIGNED,
    c_bigint BIGINT, c_bigint_u BIGINT UNSIGNED,
    c_decimal DECIMAL(10,2), c_float FLOAT, c_double DOUBLE,
    c_bit1 BIT(1), c_bit10 BIT(10), c_bit64 BIT(64), c_year YEAR,
    c_date DATE, c_time TIME(6), c_time0 TIME, c_datetime0 DATETIME, c_datetime3 DATETIME(3), c_datetime6 DATETIME(6),
    c_timestamp TIMESTAMP(6) NULL,
    c_char CHAR(5), c_varchar VARCHAR(20), c_text TEXT,
    c_latin1 VARCHAR(20) CHARACTER SET latin1,
    c_binary BINARY(4), c_varbinary VARBINARY(10), c_blob BLOB,
    c_enum ENUM('sad','ok','happy'), c_set SET('a','b','c'),
    c_json JSON, c_geom POINT,
    c_not_null VARCHAR(8) NOT NULL DEFAULT 'x'
) DEFAULT CHARSET = utf8mb4;
SET SESSION sql_mode = '';
SET SESSION time_zone = '+00:00';
INSERT INTO alltypes VALUES (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, 12345678.90, 3.25, 2.718281828459045,
  b'1', b'1010101010', b'1000000000000000000000000000000000000000000000000000000000000001', 2024,
  '2024-02-29', '100:00:00.000001', '-838:59:59', '2024-02-29 13:45:30', '2024-02-29 13:45:30.123', '2024-02-29 13:45:30.123456',
  '2024-02-29 13:45:30.123456',
  'ab', 'varchar ✓', 'hello 𝄞', 'café', x'00ff1000', x'01', x'deadbeef', 'happy', 'a,c',
  '{"a": [1, 2, {"b": null}]}', ST_GeomFromText('POINT(1.5 -2.25)'), 'nn');
INSERT INTO alltypes VALUES (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0,
  9223372036854775807, 0, -99999999.99, -1.5e38, 1.7976931348623157e308,
  b'0', b'0', b'1111111111111111111111111111111111111111111111111111111111111111', 0,
  '0000-00-00', '-100:00:00', '00:00:00', '0000-00-00 00:00:00', '9999-12-31 23:59:59.999', '1000-01-01 00:00:00.000000',
  '1970-01-01 00:00:01',
  '', '', '', '', x'00000000', x'', x'', 'sad', '',
  '[]', NULL, DEFAULT);
INSERT INTO alltypes (id) VALUES (3);
