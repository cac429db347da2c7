-- Streaming changes after the snapshot (PostgreSQL reference): c (2 rows, one transaction),
-- u (infinity, BC, 1000-digit numeric, NaN), u (years past 9999), d (+ tombstone), u that
-- TOASTs c_text/c_bytea/c_jsonb, then u leaving them unchanged (Debezium's placeholders).
BEGIN;
INSERT INTO public.alltypes SELECT id + 2, c_smallint, c_integer, c_bigint, c_real, c_double, c_numeric_10_2, c_numeric, c_money, c_boolean, c_text, c_varchar, c_char, c_bytea, c_bit1, c_bit8, c_varbit, c_date, c_time, c_time3, c_timetz, c_timestamp, c_timestamp3, c_timestamptz, c_interval, c_uuid, c_json, c_jsonb, c_xml, c_inet, c_cidr, c_macaddr, c_point, c_int4range, c_tsrange, c_text_arr, c_int_arr, c_enum, c_hstore, c_notnull_default FROM public.alltypes ORDER BY id;
COMMIT;
UPDATE public.alltypes SET c_text = 'updated', c_int_arr = '{4,NULL}', c_date = 'infinity',
  c_timestamp = '-infinity', c_timestamptz = '-infinity', c_timestamp3 = '4713-01-01 00:00:00 BC',
  c_numeric = repeat('9', 1000)::numeric, c_double = 'NaN', c_real = '-Infinity',
  c_time3 = '23:59:59.999', c_interval = '-1 day 00:00:00.000001' WHERE id = 1;
UPDATE public.alltypes SET c_date = '10000-01-01', c_timestamp = '294000-12-31 23:59:59.999999',
  c_timestamptz = '10000-01-01 00:00:00+00', c_timestamp3 = '0001-01-01 00:00:00 BC' WHERE id = 4;
DELETE FROM public.alltypes WHERE id = 3;
UPDATE public.alltypes SET c_text = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) i), c_bytea = (SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 300) i), c_jsonb = (SELECT jsonb_agg(md5(i::text)) FROM generate_series(1, 300) i) WHERE id = 2;
UPDATE public.alltypes SET c_smallint = 1 WHERE id = 2;
