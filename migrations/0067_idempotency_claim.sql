-- Claims an Idempotency-Key before the handler runs, in the same round trip as the BEGIN that
-- opens the request's transaction (src/http/layers/idempotency.rs sends
-- `SELECT klinivo_idempotency_claim(…); BEGIN; SAVEPOINT handler`). It raises when the request
-- must not run:
--   KL200: a response is stored for the key (replayed, or 422 when the request differs);
--   KL409: another request with this key holds its advisory lock (409 idempotency_key_in_use).
-- Otherwise it takes the lock, which BEGIN carries into the transaction.
-- Raising in the statement before BEGIN aborts the whole query string while no transaction is
-- open yet, so the connection goes back to the pool clean. PostgreSQL sends the error before it
-- releases the aborted statement's locks, so a client may retry before the lock is gone: a
-- stored response is therefore looked for before the lock is taken (a retry of a finished
-- request never touches the lock), and again after it, for a request that finished meanwhile.
-- Each lookup runs on a snapshot of its own (the function is volatile).
CREATE FUNCTION klinivo_idempotency_claim(p_api_key_id bigint, p_key text, p_lock bigint, p_hours int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM idempotency_keys
               WHERE api_key_id = p_api_key_id AND idempotency_key = p_key
                 AND created_at > now() - make_interval(hours => p_hours)) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL200', MESSAGE = 'idempotency key has a stored response';
    END IF;
    IF NOT pg_try_advisory_xact_lock(p_lock) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL409', MESSAGE = 'idempotency key in use';
    END IF;
    IF EXISTS (SELECT FROM idempotency_keys
               WHERE api_key_id = p_api_key_id AND idempotency_key = p_key
                 AND created_at > now() - make_interval(hours => p_hours)) THEN
        RAISE EXCEPTION USING ERRCODE = 'KL200', MESSAGE = 'idempotency key has a stored response';
    END IF;
END $$;
