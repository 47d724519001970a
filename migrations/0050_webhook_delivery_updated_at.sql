-- A delivery's updatedAt changes when something an integrator can see changes (status,
-- attempts, schedule, last outcome), not when a dispatcher takes or releases its lease.
DROP TRIGGER webhook_deliveries_updated_at ON webhook_deliveries;
CREATE TRIGGER webhook_deliveries_updated_at BEFORE UPDATE ON webhook_deliveries
    FOR EACH ROW
    WHEN ((OLD.status, OLD.attempts, OLD.next_attempt_at, OLD.last_status_code, OLD.last_error)
          IS DISTINCT FROM (NEW.status, NEW.attempts, NEW.next_attempt_at, NEW.last_status_code, NEW.last_error))
    EXECUTE FUNCTION set_updated_at();
