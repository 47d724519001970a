-- Claims an Idempotency-Key before the handler runs, in the same round trip as the BEGIN that
-- opens the request's transaction (src/http/layers/idempotency.rs sends
-- `SELECT klinivo_idempotency_claim(…); BEGIN; SAVEPOINT handler`). It takes the key's advisory
-- lock, which BEGIN carries into the transaction, and raises when the request must not run:
--   KL409: another request with this key holds the lock (409 idempotency_key_in_use);
--   KL200: a response is stored for the key (replayed, or 422 when the request differs).
-- Raising in the statement before BEGIN aborts the whole query string while no transaction is
-- open yet, so the connection goes back to the pool clean and the lock is released.
-- The lookup runs after the lock is held, on a snapshot of its own (the function is volatile),
-- so it sees a response stored by the request that held the lock before.
CREATE FUNCTION klinivo_idempotency_claim(p_api_key_id bigint, p_key text, p_lock bigint, p_hours int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(p_lock) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL409', MESSAGE = 'idempotency key in use';
    END IF;
    IF EXISTS (SELECT FROM idempotency_keys
               WHERE api_key_id = p_api_key_id AND idempotency_key = p_key
                 AND created_at > now() - make_interval(hours => p_hours)) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL200', MESSAGE = 'idempotency key has a stored response';
    END IF;
END $$;
