-- The claim's key arrives as `convert_from(decode(…, 'hex'), 'UTF8')`, and `convert_from`'s
-- result takes the collation "C" of its `name` argument. Compared under "C", the key cannot use
-- the primary key's index (built with the database's default collation): each lookup read every
-- stored response of the API key through its first column, so a busy key's writes slowed as
-- its stored responses grew (bench/README.md, "Idempotency claim"). The key is compared under
-- the column's own collation, by the primary key alone; the age is checked on the one row found.
CREATE OR REPLACE FUNCTION klinivo_idempotency_claim(p_api_key_id bigint, p_key text, p_lock bigint, p_hours int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stored_at timestamptz;
BEGIN
    SELECT created_at INTO stored_at FROM idempotency_keys
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_key COLLATE "default";
    IF stored_at > now() - make_interval(hours => p_hours) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL200', MESSAGE = 'idempotency key has a stored response';
    END IF;
    IF NOT pg_try_advisory_xact_lock(p_lock) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL409', MESSAGE = 'idempotency key in use';
    END IF;
    SELECT created_at INTO stored_at FROM idempotency_keys
    WHERE api_key_id = p_api_key_id AND idempotency_key = p_key COLLATE "default";
    IF stored_at > now() - make_interval(hours => p_hours) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL200', MESSAGE = 'idempotency key has a stored response';
    END IF;
END $$;
