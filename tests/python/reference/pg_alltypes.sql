-- The all-types table of the PostgreSQL Debezium reference (make_debezium_reference.py): one
-- column per type, row 1 ordinary values, row 2 edge values (infinity, BC, NaN, empty, ...).
-- Needs a database of its own (hstore is created; the enum type 'mood' too).
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE public.alltypes (
  id integer PRIMARY KEY,
  c_smallint smallint,
  c_integer integer,
  c_bigint bigint,
  c_real real,
  c_double double precision,
  c_numeric_10_2 numeric(10,2),
  c_numeric numeric,
  c_money money,
  c_boolean boolean,
  c_text text,
  c_varchar varchar(20),
  c_char char(5),
  c_bytea bytea,
  c_bit1 bit(1),
  c_bit8 bit(8),
  c_varbit varbit(16),
  c_date date,
  c_time time,
  c_time3 time(3),
  c_timetz timetz,
  c_timestamp timestamp,
  c_timestamp3 timestamp(3),
  c_timestamptz timestamptz,
  c_interval interval,
  c_uuid uuid,
  c_json json,
  c_jsonb jsonb,
  c_xml xml,
  c_inet inet,
  c_cidr cidr,
  c_macaddr macaddr,
  c_point point,
  c_int4range int4range,
  c_tsrange tsrange,
  c_text_arr text[],
  c_int_arr int[],
  c_enum mood,
  c_hstore hstore,
  c_notnull_default integer NOT NULL DEFAULT 42
);
INSERT INTO public.alltypes VALUES (
  1, 12345, 123456789, 1234567890123, 3.25, 2.718281828459045, 12345678.90, 3.14159265358979323846264338327950288,
  '$1,234.56', true, 'hello ✓ 𝄞', 'varchar', 'ab', '\x00ff10', B'1', B'10100101', B'1011',
  '2024-02-29', '13:45:30.123456', '13:45:30.123', '13:45:30.5+02', '2024-02-29 13:45:30.123456', '2024-02-29 13:45:30.123',
  '2024-02-29 13:45:30.123456+01', '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"a": [1, 2, {"b": null}]}', '{"k": "v", "n": 1.5}', '<r><a x="1">t</a></r>', '192.168.1.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
  '(1.5,-2.25)', '[1,10)', '[2024-01-01 00:00,2024-12-31 23:59:59.5)', ARRAY['x', NULL, 'z'], ARRAY[1,2,3], 'happy', 'a=>1, b=>NULL', 7);
INSERT INTO public.alltypes VALUES (
  2, -32768, -2147483648, 9223372036854775807, 'Infinity', '-Infinity', -99999999.99, 'NaN',
  '-92233720368547758.08', false, '', '', '     ', '\x', B'0', B'00000000', B'',
  '0044-03-15 BC', '24:00:00', '00:00:00', '23:59:59.999999-12', 'infinity', '-infinity',
  'infinity', '-178000000 years', '00000000-0000-0000-0000-000000000000',
  '[]', '{}', '', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff',
  '(0,0)', 'empty', '(,)', '{}', '{}', 'sad', '', DEFAULT);
