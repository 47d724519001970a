-- Servers cache authenticated keys for at most a second and lease rate-limit budget in small
-- chunks. `last_grant` is how many requests the last lease granted; a change to a key that
-- matters for authentication is announced on `klinivo_keys` so every instance drops its cache
-- at once.
ALTER TABLE rate_limit_counters ADD COLUMN last_grant integer NOT NULL DEFAULT 0;

CREATE FUNCTION api_keys_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('klinivo_keys', OLD.id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.permissions IS DISTINCT FROM NEW.permissions
          OR OLD.rate_limit_per_minute IS DISTINCT FROM NEW.rate_limit_per_minute
          OR OLD.key_hash IS DISTINCT FROM NEW.key_hash)
    EXECUTE FUNCTION api_keys_notify_change();
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_notify_change();
