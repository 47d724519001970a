-- Where and when a provider works is part of the provider as integrators sync it (`locationIds`,
-- the schedule): any change to provider_locations or working_hours moves the provider's
-- updated_at, so `GET /providers?updatedSince=` returns it again.
CREATE FUNCTION touch_provider() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE providers SET updated_at = now() WHERE id = OLD.provider_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE providers SET updated_at = now() WHERE id = NEW.provider_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER provider_locations_touch_provider AFTER INSERT OR UPDATE OR DELETE ON provider_locations
    FOR EACH ROW EXECUTE FUNCTION touch_provider();
CREATE TRIGGER working_hours_touch_provider AFTER INSERT OR UPDATE OR DELETE ON working_hours
    FOR EACH ROW EXECUTE FUNCTION touch_provider();
